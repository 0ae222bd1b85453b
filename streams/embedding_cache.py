"""The embedding stage's content-hash cache in PostgreSQL: an unchanged chunk is never embedded
twice, by any worker (an edit of one paragraph re-embeds that paragraph only).

The cache is partitioned by tenant: were it shared, a tenant could learn whether some other tenant
holds an exact text (from how fast its own write was embedded, or from cache-hit counters). Tenants
that trust each other may share one partition (`embedding.cache_shared_tenants`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import asyncpg

from ragstream.postgres import connect_pool, ping, retrying
from ragstream.settings import PostgresSettings

SCHEMA = Path(__file__).with_name("embedding_cache.sql").read_text()
# The scope of tenants that share: not a valid tenant name, so no tenant's own scope can equal it.
SHARED_SCOPE = "*"
# (scope, content hash)
CacheKey = tuple[str, str]


class CacheScopes:
    """Which cache partition a tenant's vectors live in: its own, unless it is configured to share."""

    def __init__(self, shared_tenants: Collection[str] = ()) -> None:
        self._everyone = "all" in shared_tenants
        self._shared = frozenset(shared_tenants)

    def of(self, tenant: str) -> str:
        return SHARED_SCOPE if self._everyone or tenant in self._shared else tenant


class EmbeddingCache:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._s = schema

    @classmethod
    async def connect(cls, settings: PostgresSettings) -> EmbeddingCache:
        return cls(await connect_pool(settings, schemas=(SCHEMA,)), settings.schema_name)

    async def ping(self) -> bool:
        return await ping(self._pool)

    async def close(self) -> None:
        await self._pool.close()

    @retrying
    async def get(self, model: str, keys: Sequence[CacheKey]) -> dict[CacheKey, bytes]:
        if not keys:
            return {}
        rows = await self._pool.fetch(
            f"SELECT scope, content_hash, vector FROM {self._s}.embedding_vectors WHERE model=$1"
            " AND (scope, content_hash) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
            model,
            [s for s, _ in keys],
            [h for _, h in keys],
        )
        return {(r["scope"], r["content_hash"]): bytes(r["vector"]) for r in rows}

    @retrying
    async def put(self, model: str, vectors: Mapping[CacheKey, bytes]) -> None:
        if vectors:
            await self._pool.executemany(
                f"INSERT INTO {self._s}.embedding_vectors (scope, model, content_hash, vector)"
                " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                sorted((s, model, h, v) for (s, h), v in vectors.items()),
            )
