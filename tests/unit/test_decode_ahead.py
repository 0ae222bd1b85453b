"""A rebuild's catch-up decodes the log in a child process while it applies what it decoded before:
the records come back as the feed decodes them itself, vectors intact, and nothing fetched is lost,
reordered or applied in batches over their size, paused or not."""

from __future__ import annotations

import asyncio
import uuid
from array import array
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from ragstream.codec import load_codec
from ragstream.logdecode import DecoderProcess
from ragstream.logread import Batches, decode_batches
from ragstream.queries.indexing.feed import DECODE_AHEAD_RECORDS, IndexFeed
from ragstream.queries.indexing.generation import Generation
from ragstream.queries.readmodels.base import SearchFilter
from ragstream.records import LogRecord
from ragstream.settings import KafkaSettings
from tests.unit.codecs import UNIT_CODEC

pytestmark = pytest.mark.unit
DIM = 4
TOPIC = "t.document-embeddings"
CODEC = load_codec(UNIT_CODEC)


def embedded(doc: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    chunks = [
        {"chunk_number": n, "text": f"walrus{doc} part {n}", "start": 0, "end": 10, "heading": "",
         "content_hash": uuid.uuid4().hex, "vector": [0.1 * (doc + 1), -0.25, 1 / 3, float(n)]}
        for n in range(2)
    ]  # fmt: skip
    return {
        "schema_version": 1, "command_id": str(uuid.uuid4()), "tenant": "t", "document_id": f"d{doc}",
        "actor": "test", "event_time": now, "source": {}, "event_id": str(uuid.uuid4()), "version": 1,
        "recorded_time": now, "command_position": f"cmds/0/{doc}", "title": f"Document {doc}",
        "content_version": 1, "metadata": {}, "acl": [], "chunker": "test", "model": "test",
        "model_version": "0", "dimension": DIM, "embeddings_computed": 2, "chunks": chunks,
    }  # fmt: skip


def messages(docs: range, *, partition: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for doc in docs:
        value = CODEC.encode("DocumentEmbedded", embedded(doc))
        out.append(
            ConsumerRecord(TOPIC, partition, doc, 0, 0, f"t/d{doc}".encode(), value, None, 5, len(value),
                           [("lane", b"bulk")])
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def decoder() -> Iterator[DecoderProcess]:
    started = DecoderProcess(UNIT_CODEC)
    yield started
    started.close()


async def test_the_decoder_process_decodes_as_the_feed_does_with_vectors_as_float32_arrays(
    decoder: DecoderProcess,
) -> None:
    batch = messages(range(3))
    # Not the Confluent wire format, so the codec refuses it without asking a registry.
    broken = ConsumerRecord(TOPIC, 0, 3, 0, 0, None, b"not avro", None, 0, 8, [])
    batches: Batches = {TopicPartition(TOPIC, 0): [*batch, broken], TopicPartition(TOPIC, 1): []}
    inline, inline_errors = decode_batches(CODEC, batches)
    apart, apart_errors = await decoder.decode(batches)
    assert inline_errors == apart_errors == 1
    assert [r.offset for r in apart] == [0, 1, 2]
    for mine, theirs in zip(inline, apart, strict=True):
        assert (mine.name, mine.topic, mine.partition, mine.offset) == (
            theirs.name, theirs.topic, theirs.partition, theirs.offset,
        )  # fmt: skip
        assert mine.key == theirs.key and mine.headers == theirs.headers == {"lane": b"bulk"}
        for ours, other in zip(mine.record["chunks"], theirs.record["chunks"], strict=True):
            assert isinstance(other["vector"], array) and other["vector"].typecode == "f"
            # Avro floats are 32-bit: the array holds exactly the values the inline decode gives.
            assert list(other["vector"]) == ours["vector"]
        without_vectors = [{k: v for k, v in c.items() if k != "vector"} for c in mine.record["chunks"]]
        assert [{k: v for k, v in c.items() if k != "vector"} for c in theirs.record["chunks"]] == (
            without_vectors
        )
        assert {k: v for k, v in mine.record.items() if k != "chunks"} == {
            k: v for k, v in theirs.record.items() if k != "chunks"
        }


class ScriptedConsumer:
    """Hands out the given fetches (each at most `max_records` long, as Kafka's), then nothing."""

    def __init__(self, fetched: list[ConsumerRecord[bytes, bytes]], error: Exception | None = None) -> None:
        self.left = list(fetched)
        self.error = error
        self.asked: list[int] = []
        self.fetched = asyncio.Event()

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0)
        self.asked.append(max_records)
        taken, self.left = self.left[:max_records], self.left[max_records:]
        self.fetched.set()
        if not taken and self.error is not None:
            raise self.error
        if not taken:
            await asyncio.sleep(0.01)
            return {}
        return {TopicPartition(TOPIC, 0): taken}

    async def stop(self) -> None:
        pass


async def stopped(feed: IndexFeed) -> None:
    async with asyncio.timeout(30):
        while feed.failure() is None:
            await asyncio.sleep(0.02)
            assert feed._task is not None and not feed._task.cancelled()


async def applied_up_to(feed: IndexFeed, offset: int) -> None:
    async with asyncio.timeout(30):
        while feed.next_offsets() != {0: offset}:
            assert feed.failure() is None
            await asyncio.sleep(0.02)


@pytest.fixture
async def generation(tmp_path: Path) -> AsyncIterator[Generation]:
    opened = Generation.open(tmp_path, "g2", DIM)
    yield opened
    opened.close()


async def test_a_feed_decoding_ahead_applies_everything_in_log_order_in_batches_no_larger_than_asked(
    decoder: DecoderProcess, generation: Generation
) -> None:
    total = 2 * DECODE_AHEAD_RECORDS + 7  # three fetches
    consumer = ScriptedConsumer(messages(range(total)))
    sizes: list[int] = []
    apply_batch = generation.projector.apply_batch

    def recording(records: list[LogRecord]) -> Any:
        sizes.append(len(records))
        assert [r.offset for r in records] == sorted(r.offset for r in records)
        return apply_batch(records)

    generation.projector.apply_batch = recording  # type: ignore[method-assign]
    feed = IndexFeed(KafkaSettings(), TOPIC, CODEC, generation, batch_records=300, decoder=decoder)
    feed._consumer = consumer  # type: ignore[assignment]  # what start() would open against a broker
    feed.resume()
    try:
        await applied_up_to(feed, total)
    finally:
        await feed.pause()
    # Fetched small, so decoding starts early; applied in batches that never pass their size.
    assert set(consumer.asked) == {DECODE_AHEAD_RECORDS}
    assert sum(sizes) == total and max(sizes) <= 300 + DECODE_AHEAD_RECORDS
    assert generation.projector.state.count_documents() == total
    keyword, vector = generation.projector.keyword, generation.projector.vector
    assert keyword is not None and vector is not None and vector.count() == 2 * total
    hits = keyword.search(f"walrus{total - 1}", SearchFilter(tenant="t"), 3)
    assert [h.chunk.document_id for h in hits][:1] == [f"d{total - 1}"]
    # The vectors arrived whole: a chunk's own vector scores 1 against it.
    last = SearchFilter(tenant="t", document_ids=[f"d{total - 1}"])
    [best, _] = vector.search([0.1 * total, -0.25, 1 / 3, 1.0], last, 2)
    assert best.chunk.chunk_number == 1 and best.score == pytest.approx(1.0, abs=1e-5)


async def test_a_paused_feed_decoding_ahead_has_applied_all_it_fetched(
    decoder: DecoderProcess, generation: Generation
) -> None:
    consumer = ScriptedConsumer(messages(range(3 * DECODE_AHEAD_RECORDS)))
    feed = IndexFeed(KafkaSettings(), TOPIC, CODEC, generation, batch_records=100, decoder=decoder)
    feed._consumer = consumer  # type: ignore[assignment]
    feed.resume()
    await consumer.fetched.wait()
    await feed.pause()
    fetched = 3 * DECODE_AHEAD_RECORDS - len(consumer.left)
    assert fetched > 0 and feed.next_offsets() == {0: fetched}
    assert generation.projector.state.count_documents() == fetched
    # Resumed, it goes on from there: nothing skipped, nothing twice.
    feed.resume()
    try:
        await applied_up_to(feed, 3 * DECODE_AHEAD_RECORDS)
    finally:
        await feed.pause()
    vector = generation.projector.vector
    assert vector is not None and vector.count() == 2 * 3 * DECODE_AHEAD_RECORDS


async def test_a_feed_decoding_ahead_whose_fetch_fails_stops_with_the_error_after_applying_the_rest(
    decoder: DecoderProcess, generation: Generation
) -> None:
    consumer = ScriptedConsumer(messages(range(10)), error=ConnectionError("broker gone"))
    feed = IndexFeed(KafkaSettings(), TOPIC, CODEC, generation, decoder=decoder)
    feed._consumer = consumer  # type: ignore[assignment]
    feed.resume()
    await stopped(feed)
    assert isinstance(feed.failure(), ConnectionError)
    # What was fetched before the error was applied: the feed stopped at a known position.
    assert feed.next_offsets() == {0: 10}
