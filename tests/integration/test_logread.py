"""Reading the log up to its end on the real broker, when transactional writers (the workers under
processing_guarantee=exactly_once) left commit markers there."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic

from ragstream.kafka import admin_client
from ragstream.logread import next_offsets, open_log_consumer
from ragstream.settings import Settings
from tests.conftest import unique_tag

pytestmark = pytest.mark.integration


async def _write_in_transactions(settings: Settings, topic: str, batches: int) -> None:
    async with admin_client(settings.kafka) as admin:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, transactional_id=f"{topic}-tx", acks="all"
    )
    await producer.start()
    try:
        for n in range(batches):
            async with producer.transaction():
                await producer.send_and_wait(topic, f"record {n}".encode(), partition=n % 2)
    finally:
        await producer.stop()


async def _read_to_end(
    settings: Settings, topic: str
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    consumer, tps = await open_log_consumer(settings.kafka, topic, "test-logread")
    try:
        ends = {tp.partition: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}
        after_last_record: dict[int, int] = {}
        positions: dict[int, int] = {}
        for _ in range(40):  # a bounded loop: the bug this guards against is one that never ends
            for tp, records in (await consumer.getmany(timeout_ms=250)).items():
                after_last_record[tp.partition] = records[-1].offset + 1
            positions = await next_offsets(consumer, tps)
            if all(positions.get(p, 0) >= end for p, end in ends.items()):
                break
        return ends, after_last_record, positions
    finally:
        await consumer.stop()


def test_a_reader_reaches_the_end_past_commit_markers(local_stack: Settings) -> None:
    topic = f"{unique_tag('logread')}-tx"
    asyncio.run(_write_in_transactions(local_stack, topic, batches=4))
    ends, after_last_record, positions = asyncio.run(_read_to_end(local_stack, topic))
    # Each transaction's commit marker takes an offset after its record: the last record's
    # offset + 1 never reaches the end, the consumer's position does.
    assert all(after_last_record[p] < end for p, end in ends.items())
    assert all(positions[p] >= end for p, end in ends.items())
