"""What the projections into the registry's PostgreSQL share: one store, opened with the projection."""

from __future__ import annotations

from ragstream.queries.registry import RegistryStore
from ragstream.settings import Settings


class RegistryBacked:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: RegistryStore | None = None

    async def open(self) -> None:
        if self._store is None:
            self._store = await RegistryStore.connect(self._settings.postgres)

    @property
    def store(self) -> RegistryStore:
        assert self._store is not None, "open() the projection first"
        return self._store

    async def ready(self) -> bool:
        return self._store is not None and await self._store.ping()

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None
