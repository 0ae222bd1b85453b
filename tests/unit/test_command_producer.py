"""The command producers put a document's key on the partition the stream workers use for it."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import DefaultPartitioner

from ragstream.commands.producers import ConfluentProducer
from ragstream.settings import KafkaSettings
from ragstream.topics import document_key

pytestmark = pytest.mark.unit


async def test_confluent_producer_partitions_keys_like_the_workers() -> None:
    # Read-your-writes counts positions per command partition in the embeddings topic, which the
    # workers (aiokafka, murmur2) partition: a command on another partition than its document's
    # downstream records let a later command of that partition satisfy a token early.
    producer = ConfluentProducer(KafkaSettings(), "test")
    producer._conf["test.mock.num.brokers"] = 1  # librdkafka's in-process broker
    await producer.start()
    try:
        keys = [document_key("default", f"doc-{i}") for i in range(64)]
        sends = [await producer.send("commands", key=key, value=b"{}", headers=()) for key in keys]
        positions = await asyncio.wait_for(asyncio.gather(*sends), 30)
        assert producer._producer is not None
        partitions = sorted(
            producer._producer.list_topics("commands", timeout=10).topics["commands"].partitions
        )
    finally:
        await producer.stop()
    assert len(partitions) > 1
    workers = DefaultPartitioner()
    expected = [workers(key, partitions, partitions) for key in keys]
    assert [position.partition for position in positions] == expected
