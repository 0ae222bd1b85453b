"""The faust consumer workarounds: no message of our contiguous topics is dropped or gap-filled, while
compacted topics keep faust's gap handling; partitions without a commit restart at their beginning."""

from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP

from ragstream.streams.delivery.patches import (
    _ReadOffsets,
    disable_read_offset_tracking,
    rewind_uncommitted_partitions,
)

pytestmark = pytest.mark.unit


def test_contiguous_topics_never_report_a_read_offset() -> None:
    disable_read_offset_tracking(["p.document-commands"])
    offsets = _ReadOffsets()
    commands, changelog = TP("p.document-commands", 0), TP("p-document_state-changelog", 0)
    # What a fetch loop still delivering a pre-rebalance batch would write after the new seek.
    offsets[commands] = 8
    offsets[changelog] = 8
    assert offsets[commands] is None  # offset 3 re-fetched after the seek is delivered, not dropped
    assert offsets[changelog] == 8  # compacted: faust's own gap handling stays
    assert offsets[TP("p-document_state-changelog", 1)] is None  # unknown, as faust's default


def test_the_patch_reaches_consumers_created_afterwards() -> None:
    from faust.transport.consumer import Consumer

    disable_read_offset_tracking(["p.document-chunks"])
    disable_read_offset_tracking(["p.document-chunks"])  # idempotent: one patch per process
    assert Consumer.__init__.__qualname__.endswith("disable_read_offset_tracking.<locals>.__init__")


class FakeAiokafkaConsumer:
    def __init__(self, committed: dict[TP, int | None]) -> None:
        self.committed = committed
        self.rewound: list[TP] = []

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return self.committed

    async def seek_to_beginning(self, *tps: TP) -> None:
        self.rewound += tps


class FakeConsumerThread:
    """The two things the patched method uses of faust's consumer thread."""

    def __init__(self, consumer: FakeAiokafkaConsumer) -> None:
        self.consumer = consumer

    def _ensure_consumer(self) -> FakeAiokafkaConsumer:
        return self.consumer

    async def call_thread(self, fn: Any) -> Any:
        return await fn()


async def test_partitions_nobody_committed_restart_at_their_beginning() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    rewind_uncommitted_partitions(["p.document-embeddings"])
    never, zero, done = (TP("p.document-embeddings", n) for n in range(3))
    elsewhere = TP("p-document_state-changelog", 0)  # recovery positions changelogs itself
    consumer = FakeAiokafkaConsumer({never: None, zero: 0, done: 12, elsewhere: None})
    committed = await AIOKafkaConsumerThread.seek_to_committed(FakeConsumerThread(consumer))  # type: ignore[arg-type]
    assert committed == consumer.committed  # what faust records as committed is unchanged
    assert sorted(consumer.rewound) == [never, zero]
