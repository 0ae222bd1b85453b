"""The lifecycle every read model shares: closing once, refusing use after close or writes through
a read-only instance, and closing an owned client when opening fails."""

from __future__ import annotations

import pytest

from ragstream.queries.readmodels.exceptions import IndexClosedError, ReadOnlyIndexError
from ragstream.queries.readmodels.lifecycle import IndexLifecycle, ServerIndexLifecycle

pytestmark = pytest.mark.unit


class Client:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Index(IndexLifecycle):
    def __init__(self, *, readonly: bool = False, fail_release: bool = False) -> None:
        super().__init__("test index 'x'", readonly=readonly)
        self.released = 0
        self.fail_release = fail_release

    def _release(self) -> None:
        self.released += 1
        if self.fail_release:
            raise RuntimeError("release failed")


class ServerIndex(ServerIndexLifecycle[Client]):
    def __init__(self, client: Client, *, owns_client: bool, fail_open: bool = False) -> None:
        super().__init__(client, "x", "server index 'x'", owns_client=owns_client)
        self._open_owning(lambda: self._open(fail_open))

    def _open(self, fail: bool) -> None:
        if fail:
            raise ConnectionError("unreachable")


def test_close_releases_once_and_then_refuses_use() -> None:
    index = Index()
    index._check_open()
    index._require_writable()
    with index as entered:
        assert entered is index
    index.close()

    assert index.released == 1
    with pytest.raises(IndexClosedError, match=r"^test index 'x' is closed$"):
        index._check_open()
    with pytest.raises(IndexClosedError):
        index._require_writable()


def test_a_failed_release_still_closes() -> None:
    index = Index(fail_release=True)
    with pytest.raises(RuntimeError):
        index.close()
    index.close()

    assert index.released == 1
    with pytest.raises(IndexClosedError):
        index._check_open()


def test_read_only_instances_refuse_writes_only() -> None:
    index = Index(readonly=True)
    index._check_open()
    with pytest.raises(ReadOnlyIndexError, match=r"^test index 'x' was opened read-only$"):
        index._require_writable()


@pytest.mark.parametrize("owns_client", [True, False])
def test_an_owned_client_is_closed_with_the_index_only(owns_client: bool) -> None:
    client = Client()
    index = ServerIndex(client, owns_client=owns_client)
    assert client.closed == 0
    index.close()
    index.close()
    assert client.closed == (1 if owns_client else 0)


@pytest.mark.parametrize("owns_client", [True, False])
def test_an_owned_client_is_closed_when_opening_fails(owns_client: bool) -> None:
    client = Client()
    with pytest.raises(ConnectionError):
        ServerIndex(client, owns_client=owns_client, fail_open=True)
    assert client.closed == (1 if owns_client else 0)
