"""The faust consumer workarounds: no message of our contiguous topics is dropped or gap-filled, while
compacted topics keep faust's gap handling; partitions without a commit restart at their beginning."""

from __future__ import annotations

from types import SimpleNamespace
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
    assert "_ReadOffsets" in Consumer.__init__.__code__.co_names  # the wrapper, over faust's own
    assert "_ReadOffsets" not in Consumer.__init__.__wrapped__.__code__.co_names  # type: ignore[attr-defined]


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


def _consumer_thread(state: Any) -> Any:
    """A faust consumer thread over a real aiokafka subscription holding one partition."""
    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    subscriptions = SubscriptionState()
    subscriptions.assign_from_user({TopicPartition("p.document-commands", 0)})
    tp_state = subscriptions.subscription.assignment.state_value(TopicPartition("p.document-commands", 0))
    state(tp_state)
    thread: Any = AIOKafkaConsumerThread.__new__(AIOKafkaConsumerThread)
    thread._consumer = SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=subscriptions))
    thread.time_started = 0.0
    thread.tp_fetch_request_timeout_secs = thread.tp_stream_timeout_secs = 300.0
    thread.consumer = SimpleNamespace(
        app=SimpleNamespace(
            monitor=SimpleNamespace(stream_inbound_time={}),
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        )
    )
    return thread


def _rewound(tp_state: Any) -> None:
    tp_state.seek(12)
    tp_state.timestamp = 10_000  # polled before: faust goes on to read the position
    tp_state.highwater = 20
    tp_state.await_reset(0)  # seek_to_beginning: no position until the fetcher resets it


async def test_the_livelock_detector_skips_a_partition_being_positioned() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from ragstream.streams.delivery.patches import skip_unpositioned_partitions

    tp = TP("p.document-commands", 0)
    thread = _consumer_thread(_rewound)
    skip_unpositioned_partitions()
    assert AIOKafkaConsumerThread.verify_event_path(thread, 11.0, tp) is None  # no crash
    # What faust's own check does on it, the crash that stopped a worker as a second one joined.
    with pytest.raises(AssertionError):
        AIOKafkaConsumerThread.verify_event_path.__wrapped__(thread, 11.0, tp)  # type: ignore[attr-defined]


async def test_the_livelock_detector_still_checks_positioned_partitions() -> None:
    from faust.transport.drivers.aiokafka import (
        SLOW_PROCESSING_STREAM_IDLE_SINCE_START,
        AIOKafkaConsumerThread,
    )

    from ragstream.streams.delivery.patches import skip_unpositioned_partitions

    def consuming(tp_state: Any) -> None:
        tp_state.seek(12)
        tp_state.timestamp = 399_000  # polled a second ago (milliseconds)
        tp_state.highwater = 20

    thread = _consumer_thread(consuming)
    logged: list[str] = []
    thread._log_slow_processing_stream = lambda msg, *args: logged.append(msg)
    skip_unpositioned_partitions()
    # Behind its highwater and never processed, 400 s after start: faust's complaint is made.
    AIOKafkaConsumerThread.verify_event_path(thread, 400.0, TP("p.document-commands", 0))
    assert logged == [SLOW_PROCESSING_STREAM_IDLE_SINCE_START]
