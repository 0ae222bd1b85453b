"""The query log's writer: entries that arrive close together land in one insert, a lone entry is
not held back for long, and a full batch waiting is not held back at all."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest

from ragstream.queries.admin.querylog import QueryLog, QueryLogEntry

pytestmark = pytest.mark.unit


class RecordingPool:
    """Stands in for asyncpg's pool: the batching, not PostgreSQL, is what these tests are about."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[str]]] = []

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        assert sql.startswith("INSERT INTO ragstream.query_log")
        self.batches.append((time.monotonic(), [row[4] for row in rows]))  # the queries' text

    async def close(self) -> None:
        pass


def entry(query: str) -> QueryLogEntry:
    return QueryLogEntry(
        subject="key:read", tenant="acme", principals=(), endpoint="search", query=query, mode="hybrid",
        document_ids=(), chunk_ids=(), latency_ms=1.0, asked_at=datetime.now(UTC),
    )  # fmt: skip


async def writing(gather_s: float) -> tuple[QueryLog, RecordingPool]:
    """A query log whose writer runs, as `QueryLog.open` starts it; `close` drains it."""
    pool = RecordingPool()
    query_log = QueryLog(cast(asyncpg.Pool, pool), "ragstream", retention_days=30, gather_s=gather_s)
    query_log._tasks = [asyncio.create_task(query_log._writer())]
    return query_log, pool


async def test_entries_recorded_within_the_gather_window_land_in_one_insert() -> None:
    query_log, pool = await writing(gather_s=0.3)
    for i in range(5):  # a node answering searches one after another
        query_log.record(entry(f"q{i}"))
        await asyncio.sleep(0.01)
    await query_log.close()
    assert [queries for _, queries in pool.batches] == [["q0", "q1", "q2", "q3", "q4"]]


async def test_a_lone_entry_is_written_after_the_window_not_held_for_more() -> None:
    query_log, pool = await writing(gather_s=0.2)
    recorded = time.monotonic()
    query_log.record(entry("alone"))
    await query_log.close()
    assert [queries for _, queries in pool.batches] == [["alone"]]
    assert 0.2 <= pool.batches[0][0] - recorded < 2.0


async def test_a_full_batch_waiting_is_written_without_waiting_for_the_window() -> None:
    query_log, pool = await writing(gather_s=30.0)
    for i in range(450):  # more than two batches' worth, queued before the writer runs
        query_log.record(entry(f"q{i}"))
    started = time.monotonic()
    await asyncio.sleep(0.5)
    # The first two batches were full: written at once. The rest waits out the window.
    assert [len(queries) for _, queries in pool.batches] == [200, 200]
    assert pool.batches[1][0] - started < 0.5
    assert [q for _, queries in pool.batches for q in queries] == [f"q{i}" for i in range(400)]
    await query_log.close(drain_s=0)
