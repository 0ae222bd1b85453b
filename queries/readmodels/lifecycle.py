"""The open/closed life of a read model, the same for every backend.

An index may be shared between threads, so every state change happens under one lock, and a closed
index fails loudly instead of touching storage or a client that is gone. Written once so that all
four adapters close, refuse and report alike; each supplies only what closing releases
(`_release`) and how errors name it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from ragstream.queries.readmodels.exceptions import IndexClosedError, ReadOnlyIndexError


class IndexLifecycle:
    """Lock, closed flag, idempotent `close()`, context manager and the open/writable guards."""

    def __init__(self, label: str, *, readonly: bool = False) -> None:
        # How errors name the index ("keyword index at /data/kw", "vector index 'chunks'"): the path or
        # alias is what an operator needs to find the storage in question.
        self._label = label
        self.readonly = readonly
        # Reentrant because public methods call each other under it (update_access replaces the
        # document, close flushes what is pending).
        self._lock = threading.RLock()
        self._closed = False

    def _release(self) -> None:
        """Free what the index holds (commit pending writes, drop locks, close clients). Runs once,
        under the lock; the index counts as closed afterwards even when this raises, so a failed
        close is never retried against half-released storage."""

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._release()
            finally:
                self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise IndexClosedError(f"{self._label} is closed")

    def _require_writable(self) -> None:
        self._check_open()
        if self.readonly:
            raise ReadOnlyIndexError(f"{self._label} was opened read-only")


class _Closeable(Protocol):
    def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Closeable)


class ServerIndexLifecycle(IndexLifecycle, Generic[ClientT]):
    """An index on a server, reached through `client` and named `name` there (an alias or one of
    its generations).

    A caller may share one client between several indexes, so an index closes the client only when
    it owns it (`owns_client=True`, as `connect` gives it): then with itself, or at once when opening
    fails, since no caller ever gets an instance to close.
    """

    def __init__(
        self, client: ClientT, name: str, label: str, *, readonly: bool = False, owns_client: bool = False
    ) -> None:
        super().__init__(label, readonly=readonly)
        self.client = client
        self.name = name
        self._owns_client = owns_client

    def _open_owning(self, open_index: Callable[[], None]) -> None:
        """Run `open_index` (the adapter's checks and bootstrap), closing an owned client if it fails."""
        try:
            open_index()
        except Exception:
            if self._owns_client:
                self.client.close()
            raise

    def _release(self) -> None:
        if self._owns_client:
            self.client.close()
