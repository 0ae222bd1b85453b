"""Reading a topic from given offsets to its current end, decoded; filling one with synthetic records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from ragstream.bench.synthetic import embedded_records
from ragstream.codec import Codec, CodecError, load_codec
from ragstream.kafka import create_topics, make_producer, security_options
from ragstream.records import LogRecord
from ragstream.settings import KafkaSettings, Settings
from ragstream.topics import catalogue, document_key


async def end_offsets(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=None, **security_options(kafka)
    )
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(60):
        metadata = await consumer._client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        await asyncio.sleep(0.5)
    raise TimeoutError(f"topic {topic} does not exist")


async def _fetch_to_end(
    kafka: KafkaSettings, topic: str, start: dict[int, int] | None = None, max_records: int = 500
) -> AsyncIterator[list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]]]:
    """Raw records from `start` (default: the beginning) up to the end offsets seen when called,
    fetched as the query node's index feed fetches them."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=kafka.max_message_bytes,
        fetch_max_bytes=4 * kafka.max_message_bytes,
        **security_options(kafka),
    )
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, (start or {}).get(tp.partition, 0))
        remaining = {tp for tp in tps if (start or {}).get(tp.partition, 0) < ends[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
            batch = [
                (tp, message)
                for tp, messages in fetched.items()
                for message in messages
                if message.offset < ends[tp]
            ]
            # Positions, not the last message's offset: offsets may have gaps (transaction markers).
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if batch:
                yield batch
    finally:
        await consumer.stop()


async def read_batches(
    kafka: KafkaSettings,
    topic: str,
    codec: Codec,
    *,
    start: dict[int, int] | None = None,
    max_records: int = 500,
) -> AsyncIterator[list[LogRecord]]:
    """Decoded batches from `start` (default: the beginning) up to the end offsets seen when called;
    records that do not decode are left out."""
    async for fetched in _fetch_to_end(kafka, topic, start, max_records):
        batch: list[LogRecord] = []
        for tp, message in fetched:
            try:
                decoded = codec.decode(message.value or b"")
            except CodecError:
                continue
            batch.append(LogRecord(decoded.name, decoded.record, tp.topic, tp.partition, message.offset))
        if batch:
            yield batch


async def embeddings_computed(
    kafka: KafkaSettings, topic: str, codec: Codec, start: dict[int, int]
) -> tuple[int, int]:
    """(embeddings computed, DocumentEmbedded records) on the embeddings topic since `start`."""
    computed = records = 0
    async for batch in read_batches(kafka, topic, codec, start=start):
        for rec in batch:
            if rec.name == "DocumentEmbedded":
                records += 1
                computed += int(rec.record["embeddings_computed"])
    return computed, records


async def command_timestamps(kafka: KafkaSettings, topic: str, codec: Codec) -> dict[str, float]:
    """command_id -> Kafka timestamp (seconds) of its first record on `topic`: every stage's output
    carries the command id, so consecutive topics give each hop's latency."""
    out: dict[str, float] = {}
    async for fetched in _fetch_to_end(kafka, topic):
        for _, message in fetched:
            try:
                command_id = str(codec.decode(message.value or b"").record["command_id"])
            except (CodecError, KeyError):
                continue
            out.setdefault(command_id, message.timestamp / 1000)
    return out


async def fill_synthetic(settings: Settings, prefix: str, chunks: int) -> float:
    """The embeddings topic of pipeline `prefix`, filled with synthetic DocumentEmbedded records;
    returns the seconds it took."""
    topic = catalogue(prefix).embeddings
    await create_topics(settings.kafka, [topic])
    codec = load_codec(settings.codec)
    producer = make_producer(settings.kafka, client_suffix="bench")
    started = time.perf_counter()
    await producer.start()
    try:
        pending = []
        for record in embedded_records(chunks, topic=f"{prefix}.document-commands"):
            key = document_key(record["tenant"], record["document_id"])
            pending.append(await producer.send(topic.name, codec.encode("DocumentEmbedded", record), key=key))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def write_one(settings: Settings, prefix: str, document_id: str, text: str) -> None:
    """One synthetic DocumentEmbedded record (one chunk of `text`) on pipeline `prefix`'s embeddings
    topic, acknowledged by the broker."""
    record = next(embedded_records(1, seed=hash(document_id) % 2**32, topic=f"{prefix}.document-commands"))
    record["document_id"] = document_id
    record["chunks"][0].update(text=text, end=len(text))
    codec = load_codec(settings.codec)
    producer = make_producer(settings.kafka, client_suffix="bench")
    await producer.start()
    try:
        key = document_key(record["tenant"], document_id)
        await producer.send_and_wait(
            catalogue(prefix).embeddings.name, codec.encode("DocumentEmbedded", record), key=key
        )
    finally:
        await producer.stop()


async def chunks_in_topic(kafka: KafkaSettings, topic: str, codec: Codec) -> int:
    """Chunks of the DocumentEmbedded records on an embeddings topic."""
    chunks = 0
    async for batch in read_batches(kafka, topic, codec):
        chunks += sum(len(r.record.get("chunks", ())) for r in batch if r.name == "DocumentEmbedded")
    return chunks
