"""Reading a topic outside any consumer group: every partition assigned to one reader.

Shared by the query node's index feeds and replays, the stream workers' follower of the
embedding-generations topic and the benchmarks, which all position themselves explicitly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from ragstream.codec import Codec, CodecError
from ragstream.kafka import make_consumer, topic_partitions
from ragstream.records import LogRecord
from ragstream.settings import KafkaSettings

log = logging.getLogger("ragstream.logread")


async def open_log_consumer(
    kafka: KafkaSettings, topic: str, role: str
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    # read_committed (make_consumer): under exactly-once the workers write in transactions, and an
    # aborted write must never reach a read model.
    consumer = make_consumer(kafka, group_id=None, role=role)
    await consumer.start()
    try:
        partitions = await wait_for_partitions(consumer, topic)
    except BaseException:
        await consumer.stop()
        raise
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    return consumer, tps


async def wait_for_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    # A consumer without a subscription keeps no topic metadata; ask the cluster directly.
    for _ in range(120):
        if partitions := await topic_partitions(consumer, topic):
            return partitions
        await asyncio.sleep(0.5)
    raise TimeoutError(f"topic {topic} does not exist")


async def next_offsets(consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]) -> dict[int, int]:
    """Per partition, the offset the consumer reads next. Unlike the last record's offset + 1, it
    moves past the commit markers that transactional writers (exactly_once) leave at a partition's
    end, so a reader that waits to reach the log's end offsets gets there."""
    return {tp.partition: int(await consumer.position(tp)) for tp in tps}


Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]


def decode_batches(codec: Codec, batches: Batches) -> tuple[list[LogRecord], int]:
    """Decoded records in partition order, and how many could not be decoded."""
    records, skipped = decode_quietly(codec, batches)
    return records, log_skipped(skipped)


def log_skipped(skipped: Sequence[str]) -> int:
    """Logs why each record of `decode_quietly`'s was skipped; how many were."""
    for why in skipped:
        # The stream workers dead-letter bad records; here one is only skipped.
        log.warning("skipping undecodable record %s", why)
    return len(skipped)


def decode_quietly(codec: Codec, batches: Batches) -> tuple[list[LogRecord], list[str]]:
    """Decoded records in partition order, and why each record that did not decode did not
    ('topic/partition/offset: error'), for the caller to log."""
    records: list[LogRecord] = []
    skipped: list[str] = []
    for tp, messages in batches.items():
        for msg in messages:
            try:
                decoded = codec.decode(msg.value or b"")
            except CodecError as exc:
                skipped.append(f"{tp.topic}/{tp.partition}/{msg.offset}: {exc}")
                continue
            # Headers kept: the lane header decides which read-your-writes position a record advances.
            headers = {key: bytes(value) for key, value in msg.headers or ()}
            records.append(
                LogRecord(decoded.name, decoded.record, tp.topic, tp.partition, msg.offset, msg.key, headers)
            )
    return records, skipped
