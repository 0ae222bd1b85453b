"""Projection state of the server read models (OpenSearch, Qdrant server), kept in PostgreSQL.

Every stream worker projects its own partitions of the embeddings topic into the shared indexes, so
the state they consult (the version each document has there) and publish (the command positions
applied, which query nodes wait on for read-your-writes) must be shared too. It is written after the
indexes were flushed: a crash in between re-applies the batch, which leaves the same index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import asyncpg

from ragstream.postgres import retrying
from ragstream.queries.registry.store import RegistryStore

PROJECTION = "shared-indexes"


class SharedIndexState:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._s = schema

    @classmethod
    def of(cls, store: RegistryStore) -> SharedIndexState:
        return cls(store.pool, store.schema)

    @retrying
    async def versions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        if not keys:
            return {}
        rows = await self._pool.fetch(
            f"SELECT tenant, document_id, version FROM {self._s}.shared_index_versions"
            " WHERE (tenant, document_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [t for t, _ in keys],
            [d for _, d in keys],
        )
        return {(r["tenant"], r["document_id"]): int(r["version"]) for r in rows}

    @retrying
    async def command_positions(self) -> dict[int, int]:
        rows = await self._pool.fetch(f'SELECT partition, "offset" FROM {self._s}.shared_index_positions')
        return {int(r["partition"]): int(r["offset"]) for r in rows}

    @retrying
    async def next_offsets(self, topic: str) -> dict[int, int]:
        rows = await self._pool.fetch(
            f'SELECT partition, "offset" FROM {self._s}.projection_offsets WHERE projection=$1 AND topic=$2',
            PROJECTION,
            topic,
        )
        return {int(r["partition"]): int(r["offset"]) for r in rows}

    @retrying
    async def count_documents(self) -> int:
        value = await self._pool.fetchval(
            f"SELECT count(*) FROM {self._s}.shared_index_versions WHERE NOT deleted"
        )
        return int(value)

    @retrying
    async def commit(
        self,
        versions: Iterable[tuple[str, str, int, bool]],
        next_offsets: Mapping[tuple[str, int], int],
        command_positions: Mapping[int, int],
    ) -> None:
        """One transaction; every value only ever moves forward, so a late redelivery is harmless."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                f"""INSERT INTO {self._s}.shared_index_versions AS v (tenant, document_id, version, deleted)
                    VALUES ($1,$2,$3,$4) ON CONFLICT (tenant, document_id)
                    DO UPDATE SET version=$3, deleted=$4 WHERE v.version < $3""",
                # Sorted, here and below: workers lock rows in one order and never deadlock.
                sorted(versions),
            )
            await conn.executemany(
                f"""INSERT INTO {self._s}.projection_offsets AS o (projection, topic, partition, "offset")
                    VALUES ($1,$2,$3,$4) ON CONFLICT (projection, topic, partition)
                    DO UPDATE SET "offset"=GREATEST(o."offset", $4)""",
                sorted((PROJECTION, t, p, o) for (t, p), o in next_offsets.items()),
            )
            await conn.executemany(
                f"""INSERT INTO {self._s}.shared_index_positions AS c (partition, "offset")
                    VALUES ($1,$2) ON CONFLICT (partition) DO UPDATE SET "offset"=GREATEST(c."offset", $2)""",
                sorted(command_positions.items()),
            )
