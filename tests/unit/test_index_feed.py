"""IndexFeed without a broker: what read-your-writes and blue/green swaps rely on (positions, waiters,
progress comparison, adopt), driven through `apply` on real embedded indexes."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ragstream.codec import load_codec
from ragstream.queries.indexing import optimize
from ragstream.queries.indexing.feed import OPTIMIZE_AFTER_POINTS, IndexFeed
from ragstream.queries.indexing.generation import Generation, vector_folder
from ragstream.queries.readmodels.base import SearchFilter
from ragstream.queries.readmodels.exceptions import IndexClosedError
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.records import LogRecord
from ragstream.settings import KafkaSettings
from tests.unit.codecs import UNIT_CODEC

pytestmark = pytest.mark.unit
DIM = 4
TOPIC = "t.document-embeddings"
CODEC = load_codec(UNIT_CODEC)
Applied = list[tuple[str, str, int, bool]]


def embedded(doc: str, version: int, command: str, offset: int, *, topic: str = TOPIC) -> LogRecord:
    chunks = [
        {"chunk_number": 0, "text": f"{doc} text", "start": 0, "end": 8, "vector": [1.0, 0.0, 0.0, 0.0]}
    ]
    record = {"tenant": "t", "document_id": doc, "version": version, "content_version": version, "title": "",
              "metadata": {}, "acl": [], "chunks": chunks, "command_position": command,
              "event_time": datetime.now(UTC)}  # fmt: skip
    return LogRecord("DocumentEmbedded", record, topic, 0, offset)


def deleted(doc: str, version: int, command: str, offset: int) -> LogRecord:
    record = {"tenant": "t", "document_id": doc, "version": version, "command_position": command}
    return LogRecord("DocumentDeleted", record, TOPIC, 0, offset)


@pytest.fixture
async def open_feed(tmp_path: Path) -> AsyncIterator[Callable[..., IndexFeed]]:
    opened: list[Generation] = []

    def make(name: str = "g1", topic: str = TOPIC, **kw: Any) -> IndexFeed:
        generation = Generation.open(tmp_path, name, DIM)
        opened.append(generation)
        return IndexFeed(KafkaSettings(), topic, CODEC, generation, **kw)

    yield make
    for generation in opened:
        generation.close()


class IdleConsumer:
    """Stands in for the Kafka consumer of a running feed: no records, or the error it is told to raise."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        await asyncio.sleep(0.01)
        if self.error is not None:
            raise self.error
        return {}

    async def stop(self) -> None:
        pass


def keyword_docs(generation: Generation, text: str) -> list[str]:
    keyword = generation.projector.keyword
    assert keyword is not None
    return [h.chunk.document_id for h in keyword.search(text, SearchFilter(tenant="t"), 5)]


def running(feed: IndexFeed, consumer: IdleConsumer) -> IndexFeed:
    feed._consumer = consumer  # type: ignore[assignment]  # what start() would open against a broker
    feed.resume()
    return feed


async def three_points(open_feed: Callable[..., IndexFeed]) -> tuple[IndexFeed, QdrantEdgeVectorIndex]:
    """A feed whose vector index holds d0-d2, and that index."""
    feed = open_feed()
    await feed.apply([embedded(f"d{i}", 1, f"cmds/0/{i}", i) for i in range(3)])
    vector = feed.generation.projector.vector
    assert isinstance(vector, QdrantEdgeVectorIndex)
    return feed, vector


def vector_docs(index: QdrantEdgeVectorIndex) -> list[str]:
    return sorted(h.chunk.document_id for h in index.search([1.0, 0, 0, 0], SearchFilter("t"), 10))


async def build_due(feed: IndexFeed) -> None:
    """Build the HNSW graph as the running feed would once it counts enough new points and is idle."""
    feed._unoptimized = OPTIMIZE_AFTER_POINTS
    await feed._maybe_optimize(idle_s=0.0)
    await feed.built()


async def test_apply_keeps_the_highest_command_position_per_partition(
    open_feed: Callable[..., IndexFeed],
) -> None:
    feed = open_feed()
    await feed.apply(
        [embedded("a", 1, "cmds/0/3", 0), embedded("b", 1, "cmds/2/9", 1), embedded("c", 1, "cmds/0/5", 2)]
    )
    assert feed.command_positions == {0: 5, 2: 9}
    # A redelivered, older record must not move read-your-writes backwards.
    await feed.apply([embedded("a", 1, "cmds/0/1", 0)])
    assert feed.command_positions == {0: 5, 2: 9}


async def test_a_restarted_feed_resumes_from_the_positions_stored_with_the_index(tmp_path: Path) -> None:
    first = Generation.open(tmp_path, "g1", DIM)
    await IndexFeed(KafkaSettings(), TOPIC, CODEC, first).apply([embedded("a", 1, "cmds/1/7", 0)])
    first.close()
    reopened = Generation.open(tmp_path, "g1", DIM)
    try:
        feed = IndexFeed(KafkaSettings(), TOPIC, CODEC, reopened)
        assert feed.command_positions == {1: 7} and feed.next_offsets() == {0: 1}
    finally:
        reopened.close()


async def test_a_waiter_wakes_only_when_every_partition_it_needs_is_applied(
    open_feed: Callable[..., IndexFeed],
) -> None:
    feed = open_feed()
    waiter = asyncio.create_task(feed.wait_for({0: 5, 1: 2}, timeout=5))
    await feed.apply([embedded("a", 1, "cmds/0/5", 0)])
    await asyncio.sleep(0.05)
    assert not waiter.done()  # partition 1 is still behind
    await feed.apply([embedded("b", 1, "cmds/1/2", 1)])
    assert await asyncio.wait_for(waiter, 1) is True


async def test_wait_for_gives_up_after_the_timeout(open_feed: Callable[..., IndexFeed]) -> None:
    feed = open_feed()
    await feed.apply([embedded("a", 1, "cmds/0/5", 0)])
    started = time.monotonic()
    assert await feed.wait_for({0: 6}, timeout=0.2) is False
    assert 0.2 <= time.monotonic() - started < 2
    assert await feed.wait_for({0: 5}, timeout=0.2) is True


async def test_is_caught_up_to_needs_every_partition_at_or_past_its_offset(
    open_feed: Callable[..., IndexFeed],
) -> None:
    feed = open_feed()
    await feed.apply([embedded("a", 1, "cmds/0/5", 0), embedded("b", 1, "cmds/1/0", 1)])
    assert feed.is_caught_up_to({}) and feed.is_caught_up_to({0: 5, 1: 0})
    assert not feed.is_caught_up_to({0: 6}) and not feed.is_caught_up_to({0: 1, 3: 0})


async def test_has_passed_on_one_topic_compares_log_offsets(open_feed: Callable[..., IndexFeed]) -> None:
    ahead, behind = open_feed("g1"), open_feed("g2")
    # Command positions say the opposite, so only a comparison by offsets gets this right.
    await ahead.apply([embedded("a", 1, "cmds/0/1", 0), embedded("b", 1, "cmds/0/2", 1)])
    await behind.apply([embedded("a", 1, "cmds/0/90", 0)])
    assert ahead.has_passed(behind) and not behind.has_passed(ahead)


async def test_has_passed_across_topics_compares_command_positions(
    open_feed: Callable[..., IndexFeed],
) -> None:
    live, rebuilt = open_feed("g1"), open_feed("g2", topic="t.embeddings-e2")
    await live.apply([embedded("a", 1, "cmds/0/4", 0)])
    # Far more offsets on its own topic, but not yet the command behind the live feed's last record.
    await rebuilt.apply([embedded(f"d{i}", 1, "cmds/0/3", i, topic="t.embeddings-e2") for i in range(5)])
    assert not rebuilt.has_passed(live) and live.has_passed(rebuilt)
    await rebuilt.apply([embedded("a", 1, "cmds/0/4", 5, topic="t.embeddings-e2")])
    assert rebuilt.has_passed(live)


async def test_adopt_swaps_generation_and_topic_and_keeps_positions_monotonic(
    open_feed: Callable[..., IndexFeed],
) -> None:
    live, rebuilt = open_feed("g1"), open_feed("g2", topic="t.embeddings-e2")
    await live.apply([embedded("old", 1, "cmds/0/8", 0)])
    await rebuilt.apply(
        [
            embedded("new", 1, "cmds/0/3", 0, topic="t.embeddings-e2"),
            embedded("x", 1, "cmds/1/6", 1, topic="t.embeddings-e2"),
        ]
    )
    old_generation, new_generation = live.generation, rebuilt.generation
    assert live.adopt(rebuilt) == (old_generation, None)
    assert (live.generation, live.topic) == (new_generation, "t.embeddings-e2")
    assert live.command_positions == {0: 8, 1: 6}  # a token once satisfied stays satisfied
    # Later writes land in the adopted generation, which is what queries now search.
    await live.apply([embedded("later", 1, "cmds/1/7", 2, topic="t.embeddings-e2")])
    assert keyword_docs(live.generation, "later") == ["later"]
    assert keyword_docs(old_generation, "later") == []


async def test_adopt_refuses_while_either_feed_is_running(open_feed: Callable[..., IndexFeed]) -> None:
    live, rebuilt = running(open_feed("g1"), IdleConsumer()), open_feed("g2")
    original = live.generation
    with pytest.raises(RuntimeError):
        live.adopt(rebuilt)
    with pytest.raises(RuntimeError):
        rebuilt.adopt(live)
    assert live.generation is original
    await live.pause()
    assert live.adopt(rebuilt)[0] is original and live.generation is rebuilt.generation


async def test_failure_reports_the_error_that_stopped_a_feed(open_feed: Callable[..., IndexFeed]) -> None:
    assert open_feed("g1").failure() is None  # never started: not failed
    idle = running(open_feed("g2"), IdleConsumer())
    await asyncio.sleep(0.05)
    assert idle.failure() is None  # running without records is not a failure
    await idle.stop()
    error = OSError("index volume unmounted")
    broken = running(open_feed("g3"), IdleConsumer(error))
    await asyncio.sleep(0.1)
    assert broken.failure() is error
    await broken.pause()  # a dead feed can still be paused, so a rebuild can replace it


@pytest.mark.parametrize("as_coroutine", [False, True])
async def test_on_applied_receives_the_applied_versions_only(
    open_feed: Callable[..., IndexFeed], as_coroutine: bool
) -> None:
    calls: list[Applied] = []

    def record(applied: Applied) -> None:
        calls.append(applied)

    async def record_async(applied: Applied) -> None:
        await asyncio.sleep(0)
        calls.append(applied)

    feed = open_feed(on_applied=record_async if as_coroutine else record)
    await feed.apply(
        [embedded("a", 1, "cmds/0/0", 0), embedded("b", 1, "cmds/0/1", 1), deleted("a", 2, "cmds/0/2", 2)]
    )
    assert calls == [[("t", "a", 1, False), ("t", "b", 1, False), ("t", "a", 2, True)]]
    await feed.apply([embedded("b", 1, "cmds/0/1", 1)])  # redelivery: nothing applied, nothing to report
    assert len(calls) == 1


async def test_an_hnsw_build_is_reported_due_until_it_has_run(open_feed: Callable[..., IndexFeed]) -> None:
    # `ragstream eval` waits on this (through /ready) so that no query races the build.
    feed = open_feed()
    await feed.apply([embedded(f"d{i}", 1, f"cmds/0/{i}", i) for i in range(3)])
    assert not feed.optimization_due
    feed._unoptimized = OPTIMIZE_AFTER_POINTS  # as many new points as the running feed counts
    assert feed.optimization_due

    await feed._maybe_optimize(idle_s=0.0)
    assert feed.optimization_due  # building
    await feed.built()
    assert not feed.optimization_due


async def test_the_live_graph_is_built_on_a_copy_that_takes_the_index_place_for_good(
    open_feed: Callable[..., IndexFeed], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optimize, "RETIRE_GRACE_S", 0.0)
    # Never in this process: qdrant-edge holds the GIL for a whole build, which froze the query API.
    monkeypatch.setattr(QdrantEdgeVectorIndex, "optimize", lambda self: pytest.fail("built in-process"))
    feed, before = await three_points(open_feed)
    generation = feed.generation
    await build_due(feed)

    after = generation.projector.vector
    assert isinstance(after, QdrantEdgeVectorIndex) and after is not before and not feed.optimization_due
    assert after.path == vector_folder(generation.path) == generation.path / "vector.1"
    assert after.count() == 3
    assert sorted(h.chunk.document_id for h in after.search([1.0, 0, 0, 0], SearchFilter("t"), 5)) == [
        "d0", "d1", "d2",
    ]  # fmt: skip
    # The replaced index finished what picked it up (closed after the grace) and its folder went.
    await asyncio.wait_for(asyncio.gather(*optimize._retiring), 10)
    assert not before.path.exists()
    with pytest.raises(IndexClosedError):
        before.count()

    # A restart opens the built copy; a copy a crash left half-built is removed then.
    await feed.apply([embedded("d3", 1, "cmds/0/3", 3)])
    generation.close()
    (generation.path / "vector.2").mkdir()
    reopened = Generation.open(tmp_path, "g1", DIM)
    try:
        assert reopened.projector.vector is not None and reopened.projector.vector.count() == 4
        assert sorted(p.name for p in generation.path.glob("vector*")) == ["vector.1"]
    finally:
        reopened.close()


async def test_a_failed_build_of_the_copy_leaves_the_index_serving(
    open_feed: Callable[..., IndexFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, before = await three_points(open_feed)
    generation = feed.generation
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a child that fails at once

    await build_due(feed)

    assert generation.projector.vector is before and before.count() == 3
    assert vector_folder(generation.path).name == "vector"
    assert sorted(p.name for p in generation.path.glob("vector*")) == ["vector"]  # the copy removed
    assert not feed.optimization_due  # not retried before as many new points again


async def test_the_feed_goes_on_applying_during_a_build_and_the_copy_takes_those_writes_too(
    open_feed: Callable[..., IndexFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The build runs for minutes at 100k points: an edit made meanwhile is searchable at once
    # (in the index as it is), and still there once the built copy has taken the index's place.
    feed, before = await three_points(open_feed)
    generation = feed.generation
    build, building, release = optimize._build_in_child, asyncio.Event(), asyncio.Event()

    async def held_build(path: Path, dimension: int) -> str | None:
        building.set()  # copied: the child builds from here
        await release.wait()
        return await build(path, dimension)

    monkeypatch.setattr(optimize, "_build_in_child", held_build)
    feed._unoptimized = OPTIMIZE_AFTER_POINTS
    await feed._maybe_optimize(idle_s=0.0)
    await asyncio.wait_for(building.wait(), 10)

    await asyncio.wait_for(feed.apply([embedded("d3", 1, "cmds/0/3", 3), deleted("d0", 2, "cmds/0/4", 4)]), 5)
    assert generation.projector.vector is before and feed.optimization_due
    assert vector_docs(before) == ["d1", "d2", "d3"]

    release.set()
    await feed.built()
    after = generation.projector.vector
    assert isinstance(after, QdrantEdgeVectorIndex) and after is not before
    assert after.path == vector_folder(generation.path) == generation.path / "vector.1"
    assert vector_docs(after) == ["d1", "d2", "d3"]
    assert generation.projector.vector_writes_since_copy is None  # no longer recorded


async def test_a_pause_stops_a_build_and_leaves_the_index_as_it_was(
    open_feed: Callable[..., IndexFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebuild's swap and a build apart pause the feed: a copy must not take the index's place
    # behind them.
    feed, before = await three_points(open_feed)
    generation = feed.generation

    building = asyncio.Event()

    async def endless_build(path: Path, dimension: int) -> str | None:
        building.set()
        await asyncio.Event().wait()
        return None

    monkeypatch.setattr(optimize, "_build_in_child", endless_build)
    feed._unoptimized = OPTIMIZE_AFTER_POINTS
    await feed._maybe_optimize(idle_s=0.0)
    await asyncio.wait_for(building.wait(), 10)
    assert generation.projector.vector_writes_since_copy == []  # recording the writes since the copy

    await asyncio.wait_for(feed.pause(), 5)
    assert generation.projector.vector is before and vector_folder(generation.path).name == "vector"
    assert generation.projector.vector_writes_since_copy is None
    await feed.apply([embedded("d3", 1, "cmds/0/3", 3)])
    assert vector_docs(before) == ["d0", "d1", "d2", "d3"]
    assert feed.optimization_due  # built once the feed is idle again
