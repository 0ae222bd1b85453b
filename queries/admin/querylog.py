"""Query history: who asked what, and which documents came back, in PostgreSQL next to the registry.

Writes never slow a query down: `record` only puts the entry on a bounded queue (dropping it when
the database cannot keep up), and one background task inserts in batches. Entries older than the
retention are pruned at start-up and then every hour.

The writer gathers a batch for up to `GATHER_S` after an entry arrives. Inserting each entry as it
came meant, for a node serving searches one after another, an INSERT round trip and a connection
reset (asyncpg's, on the pool's release) per search, on the event loop every request runs on: ~15%
of its busy time under `bench query --http` (py-spy), ~0.7 ms of CPU per search (BENCHMARKS.md,
"The query log written in batches"). An entry shows in the log up to `GATHER_S` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from ragstream.settings import PostgresSettings

log = logging.getLogger("ragstream.queries.querylog")
DROPPED = Counter("ragstream_query_log_dropped_total", "Query-log entries dropped (queue full or db error)")
PRUNE_EVERY_S = 3600.0
_BATCH = 200
GATHER_S = 0.25

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.query_log (
    id            bigserial   PRIMARY KEY,
    asked_at      timestamptz NOT NULL,
    tenant        text        NOT NULL,
    principals    text[]      NOT NULL DEFAULT '{{}}',
    endpoint      text        NOT NULL,
    query         text        NOT NULL,
    mode          text        NOT NULL,
    document_ids  text[]      NOT NULL DEFAULT '{{}}',
    chunk_ids     text[]      NOT NULL DEFAULT '{{}}',
    latency_ms    real        NOT NULL
);
ALTER TABLE {s}.query_log ADD COLUMN IF NOT EXISTS subject text NOT NULL DEFAULT '';
-- Answers: the prompt template (name@version) that wrote it, and the fallback generator if one did.
ALTER TABLE {s}.query_log ADD COLUMN IF NOT EXISTS template text NOT NULL DEFAULT '';
ALTER TABLE {s}.query_log ADD COLUMN IF NOT EXISTS fallback text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS query_log_asked_at ON {s}.query_log (asked_at);
CREATE INDEX IF NOT EXISTS query_log_tenant ON {s}.query_log (tenant, asked_at);
"""


@dataclass(frozen=True)
class QueryLogEntry:
    subject: str  # the authenticated caller (API key or token subject; X-Actor without auth)
    tenant: str
    principals: Sequence[str]
    endpoint: str
    query: str
    mode: str
    document_ids: Sequence[str]
    chunk_ids: Sequence[str]
    latency_ms: float
    asked_at: datetime
    template: str = ""
    fallback: str = ""


class QueryLog:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        retention_days: int,
        queue_size: int = 10_000,
        gather_s: float = GATHER_S,
    ) -> None:
        self._pool = pool
        self._gather_s = gather_s
        self._s = schema
        self.retention_days = retention_days
        self._queue: asyncio.Queue[QueryLogEntry] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, settings: PostgresSettings, retention_days: int) -> QueryLog:
        pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=2)
        assert pool is not None
        query_log = cls(pool, settings.schema_name, retention_days)
        async with pool.acquire() as conn, conn.transaction():
            # Same advisory lock as the registry's migration: concurrent start-ups race otherwise.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", settings.schema_name)
            await conn.execute(_SCHEMA.format(s=settings.schema_name))
        await query_log.prune()
        query_log._tasks = [
            asyncio.create_task(query_log._writer()),
            asyncio.create_task(query_log._pruner()),
        ]
        return query_log

    def record(self, entry: QueryLogEntry) -> None:
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            DROPPED.inc()

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._queue.qsize() < _BATCH - 1:  # a full batch waiting goes at once
                await asyncio.sleep(self._gather_s)
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._insert(batch)
            except (OSError, asyncpg.PostgresError) as exc:
                DROPPED.inc(len(batch))
                log.warning("query log: %d entries lost: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _insert(self, batch: list[QueryLogEntry]) -> None:
        await self._pool.executemany(
            f"INSERT INTO {self._s}.query_log (asked_at, tenant, principals, endpoint, query, mode, document_ids,"
            " chunk_ids, latency_ms, subject, template, fallback) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
            [
                (e.asked_at, e.tenant, list(e.principals), e.endpoint, e.query, e.mode, list(e.document_ids),
                 list(e.chunk_ids), e.latency_ms, e.subject, e.template, e.fallback)
                for e in batch
            ],
        )  # fmt: skip

    async def _pruner(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            try:
                await self.prune()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("query log: pruning failed: %s", exc)

    async def prune(self) -> int:
        status = await self._pool.execute(
            f"DELETE FROM {self._s}.query_log WHERE asked_at < now() - make_interval(days => $1)",
            self.retention_days,
        )
        return int(status.split()[-1])

    async def recent(self, tenant: str | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT * FROM {self._s}.query_log WHERE $1::text IS NULL OR tenant=$1 ORDER BY id DESC LIMIT $2",
            tenant,
            limit,
        )
        return [dict(r) for r in rows]

    async def close(self, drain_s: float = 2.0) -> None:
        # Give queued entries a moment to land: a stopping node should not drop its last queries.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pool.close()
