"""The embedding stage's content-hash cache in PostgreSQL: an unchanged chunk is never embedded
twice, by any worker (an edit of one paragraph re-embeds that paragraph only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncpg

from ragstream.postgres import connect_pool, ping, retrying
from ragstream.settings import PostgresSettings

SCHEMA = Path(__file__).with_name("embedding_cache.sql").read_text()


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
    async def get(self, model: str, hashes: Sequence[str]) -> dict[str, bytes]:
        if not hashes:
            return {}
        rows = await self._pool.fetch(
            f"SELECT content_hash, vector FROM {self._s}.embedding_cache WHERE model=$1 AND content_hash = ANY($2)",
            model,
            list(hashes),
        )
        return {r["content_hash"]: bytes(r["vector"]) for r in rows}

    @retrying
    async def put(self, model: str, vectors: Mapping[str, bytes]) -> None:
        if vectors:
            await self._pool.executemany(
                f"INSERT INTO {self._s}.embedding_cache (model, content_hash, vector) VALUES ($1,$2,$3)"
                " ON CONFLICT DO NOTHING",
                sorted((model, h, v) for h, v in vectors.items()),
            )
