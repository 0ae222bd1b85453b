"""Reading the embeddings topic outside any consumer group: every partition assigned to one reader.

Shared by the live feed, a rebuild's feed and replays, which all position themselves explicitly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from ragstream.codec import AvroSingleObjectCodec, CodecError
from ragstream.kafka import security_options
from ragstream.queries.indexing.projector import LogRecord
from ragstream.settings import KafkaSettings

log = logging.getLogger("ragstream.queries.consumer")


async def open_log_consumer(
    kafka: KafkaSettings, topic: str, role: str
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=f"{kafka.client_id}-{role}",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # The stream workers write in transactions (exactly-once): never index an aborted write.
        isolation_level="read_committed",
        max_partition_fetch_bytes=kafka.max_message_bytes,
        fetch_max_bytes=4 * kafka.max_message_bytes,
        **security_options(kafka),
    )
    await consumer.start()
    try:
        partitions = await _wait_for_partitions(consumer, topic)
    except BaseException:
        await consumer.stop()
        raise
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    return consumer, tps


async def _wait_for_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    # A consumer without a subscription keeps no topic metadata; ask the cluster directly.
    client = consumer._client
    for _ in range(120):
        partitions = (await client.fetch_all_metadata()).partitions_for_topic(topic)
        if partitions:
            return sorted(partitions)
        await asyncio.sleep(0.5)
    raise TimeoutError(f"topic {topic} does not exist")


def decode_batches(
    codec: AvroSingleObjectCodec, batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]
) -> tuple[list[LogRecord], int]:
    """Decoded records in partition order, and how many could not be decoded."""
    records: list[LogRecord] = []
    errors = 0
    for tp, messages in batches.items():
        for msg in messages:
            try:
                decoded = codec.decode(msg.value or b"")
            except CodecError as exc:
                # The stream workers dead-letter bad records; here one is only skipped.
                errors += 1
                log.warning(
                    "skipping undecodable record %s/%s/%s: %s", tp.topic, tp.partition, msg.offset, exc
                )
                continue
            records.append(LogRecord(decoded.name, decoded.record, tp.topic, tp.partition, msg.offset))
    return records, errors
