"""A benchmark leaves the shared stack as it found it: the topics and schema of the pipeline it made
are removed when it ends (each `bench query --http` run left about 180 MB of topics on the broker
for good), while a topic it was pointed at, the caller's, stays, and the caller's schema is not
written into."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from ragstream.bench.topic import fill_synthetic
from ragstream.cli.main import app
from ragstream.kafka import topic_names
from ragstream.settings import Settings
from ragstream.topics import catalogue
from tests.conftest import unique_tag

pytestmark = pytest.mark.integration


def topics(settings: Settings) -> set[str]:
    return asyncio.run(topic_names(settings.kafka))


def schemas(settings: Settings) -> set[str]:
    async def run() -> set[str]:
        connection = await asyncpg.connect(settings.postgres.dsn(), timeout=30)
        try:
            return {row[0] for row in await connection.fetch("SELECT nspname FROM pg_namespace")}
        finally:
            await connection.close()

    return asyncio.run(run())


def bench(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    return out


def test_a_benchmark_removes_the_topics_and_schema_it_made_and_keeps_a_callers_topic(
    local_stack: Settings,
) -> None:
    topics_before, schemas_before = topics(local_stack), schemas(local_stack)
    # Its own synthetic topic, replayed by a query API of its own (which makes its schema's tables).
    out = bench("rebuild", "--chunks", "300", "--path", "admin")
    assert out["admin"]["chunks"] == 300 and out["admin"]["chunks_per_s"] > 0
    assert {t for t in topics(local_stack) - topics_before if t.startswith("bench-")} == set()
    assert {s for s in schemas(local_stack) - schemas_before if s.startswith("bench_")} == set()

    # A topic it is pointed at is the caller's: replayed, and still there afterwards. The caller's
    # PostgreSQL schema is the caller's too: the bench's query API keeps its tables in a schema of
    # its own, removed at the end (it wrote into the caller's before).
    tag = unique_tag()
    asyncio.run(fill_synthetic(local_stack, tag, 200))
    schemas_before = schemas(local_stack)
    out = bench("rebuild", "--prefix", tag, "--path", "both")
    assert out["projector"]["chunks"] == 200 and out["admin"]["chunks"] == 200
    assert catalogue(tag).embeddings.name in topics(local_stack)
    assert schemas(local_stack) == schemas_before
