"""Workarounds for faust-streaming's consumer, which loses or stalls partitions around rebalances.

Everything in this package covers one family of defects seen with faust-streaming 0.15.3 and
aiokafka 0.14 (pinned in pyproject.toml; `check.self_check` refuses other versions and fails fast
when a patched attribute is gone). Each workaround and the upstream code it replaces:

1. Read offsets (`disable_read_offset_tracking`, replaces the use of `Consumer._read_offset` in
   faust/transport/consumer.py `Consumer._drain_messages`). faust's fetch loop remembers a "read
   offset" per partition: it drops fetched messages below it as already delivered, and treats any
   jump above it as a gap whose offsets it marks acked (`_add_gap`). After a rebalance the new
   assignment seeks to the committed offsets and resets those read offsets, but the fetch loop may
   still be delivering a batch fetched before the rebalance, which moves them again. Seen: messages
   of a re-fetched partition dropped as "already read" (nothing acks them, so the partition stops
   committing) and, worse, unprocessed offsets marked acked as a gap and committed (commands never
   processed). On our contiguous topics (no transactions, no compaction) neither the dropping nor
   the gap marking is needed under at-least-once, where every processor absorbs a redelivery
   (version guards, deterministic ids, duplicate command detection), so there the read offsets
   always read as unknown. Compacted topics (changelogs, CDC sources) and exactly-once processing
   (transaction markers) keep faust's behaviour.
2. Uncommitted partitions (`rewind_uncommitted_partitions`, replaces
   faust/transport/drivers/aiokafka.py `AIOKafkaConsumerThread.seek_to_committed`). After an
   assignment faust pauses the new partitions, but a fetch already in flight can return their
   records, which faust then discards as "not active" while the client's position has moved past
   them. The seek to the committed offsets after recovery puts that right only where there is a
   commit: aiokafka's `seek_to_committed` skips a partition whose committed offset is unknown or 0,
   so a partition no worker had committed yet (its owner killed before its first commit) was left
   at its end and never processed. Such partitions are rewound to their beginning, which is where a
   group without a commit starts anyway.
3. The post-assignment seek (`committed_offsets_recorded`, wraps faust/transport/consumer.py
   `Consumer.perform_seek`): records which consumer generation faust has sought to its committed
   offsets, so a partition faust recorded no committed offset for can be told apart from one it has
   not looked up yet (see `sequencing`).
4. Batches (`batching`, replaces faust/streams.py `Stream.take_events`): its buffer, shared with a
   background drainer, was seen to lose events around rebalances without acking them.
5. Table writes from a batch (`tables.written_from`, sets what faust/streams.py
   `Stream._set_current_event` sets during iteration): faust's tables take a key's changelog
   partition from the current event, which a batch handled outside the stream iteration lacks.
6. Skipped messages (`sequencing`, no upstream counterpart): a last line of defence that takes each
   partition's messages in offset order without holes, seeking back to any it was not given, and
   audits waiting processors for messages their partitions' logs already hold.
7. The livelock detector (`skip_unpositioned_partitions`, wraps faust/transport/drivers/aiokafka.py
   `AIOKafkaConsumerThread.verify_event_path`). Every few seconds faust checks each assigned
   partition's progress and reads aiokafka's `TopicPartitionState.position`, which asserts that the
   partition has one. Between a seek to its beginning (the rewind of 2, or a new assignment) and the
   fetcher's reset it has none: the assertion crashed the consumer and with it the whole worker
   (seen when a second worker joined the group). Such a partition has made no progress to judge
   yet, so it is skipped until the next round.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.structs import TopicPartition
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

_INSTALLED = "_ragstream_read_offsets_patched"
_DETECTOR_INSTALLED = "_ragstream_livelock_detector_patched"
# The consumer generation whose committed offsets faust last sought to and recorded.
_SOUGHT_GENERATION = "_ragstream_sought_generation"
# Topics whose read offsets read as unknown, in every consumer of this process.
_CONTIGUOUS_TOPICS: set[str] = set()
# Topics whose uncommitted partitions are rewound after recovery.
_REWOUND_TOPICS: set[str] = set()


class _ReadOffsets(dict[Any, Any]):
    """faust's read offsets, except that those of contiguous topics always read back as None."""

    def __getitem__(self, tp: Any) -> Any:
        if tp.topic in _CONTIGUOUS_TOPICS:
            return None
        return dict.get(self, tp)  # faust's own mapping defaults to None as well


def rewind_uncommitted_partitions(topics: Iterable[str]) -> None:
    """After recovery, partitions of these topics without a committed offset restart at their
    beginning instead of wherever a discarded fetch left them (patching faust's driver once)."""
    _REWOUND_TOPICS.update(topics)
    if getattr(AIOKafkaConsumerThread, _INSTALLED, False):
        return

    async def seek_to_committed(self: AIOKafkaConsumerThread) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()

        async def seek() -> Mapping[Any, int]:
            committed = await consumer.seek_to_committed()
            uncommitted = [
                tp for tp, offset in committed.items() if not offset and tp.topic in _REWOUND_TOPICS
            ]
            if uncommitted:
                await consumer.seek_to_beginning(*uncommitted)
            return committed  # type: ignore[no-any-return]

        return await self.call_thread(seek)  # type: ignore[no-any-return]

    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    setattr(AIOKafkaConsumerThread, _INSTALLED, True)

    original_perform_seek = Consumer.perform_seek

    async def perform_seek(self: Consumer) -> None:
        generation = self.app.consumer_generation_id
        await original_perform_seek(self)
        setattr(self, _SOUGHT_GENERATION, generation)

    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]


def committed_offsets_recorded(consumer: Any) -> bool:
    """Whether faust has sought this generation's partitions to their committed offsets and
    recorded those offsets (a partition it holds none for has no commit, or a commit of 0)."""
    generation = getattr(consumer, _SOUGHT_GENERATION, None)
    return generation is not None and generation == consumer.app.consumer_generation_id


def disable_read_offset_tracking(topics: Iterable[str]) -> None:
    """For these topics, in consumers created from now on (patching faust's class once)."""
    _CONTIGUOUS_TOPICS.update(topics)
    if getattr(Consumer, _INSTALLED, False):
        return
    original_init = Consumer.__init__

    @functools.wraps(original_init)  # the self-check reads faust's own code through __wrapped__
    def __init__(self: Consumer, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._read_offset = _ReadOffsets()

    Consumer.__init__ = __init__  # type: ignore[method-assign]
    setattr(Consumer, _INSTALLED, True)


def skip_unpositioned_partitions() -> None:
    """faust's livelock detector looks only at partitions that have a position (patched once)."""
    if getattr(AIOKafkaConsumerThread, _DETECTOR_INSTALLED, False):
        return
    original = AIOKafkaConsumerThread.verify_event_path

    @functools.wraps(original)  # faust's check stays reachable as __wrapped__
    def verify_event_path(self: AIOKafkaConsumerThread, now: float, tp: TP) -> None:
        subscription = self._ensure_consumer()._fetcher._subscriptions.subscription
        assignment = subscription.assignment if subscription is not None else None
        state = assignment.state_value(TopicPartition(tp.topic, tp.partition)) if assignment else None
        if state is not None and not state.has_valid_position:
            return None  # being positioned: no progress to judge yet
        original(self, now, tp)

    AIOKafkaConsumerThread.verify_event_path = verify_event_path  # type: ignore[method-assign]
    setattr(AIOKafkaConsumerThread, _DETECTOR_INSTALLED, True)


def install_fixes(topics: Iterable[str], *, at_least_once: bool) -> None:
    """Every workaround a worker consuming these (contiguous) topics needs, installed once, after
    checking that the libraries still have what they patch."""
    from ragstream.streams.delivery.check import self_check

    self_check()
    skip_unpositioned_partitions()
    rewind_uncommitted_partitions(topics)
    if at_least_once:
        disable_read_offset_tracking(topics)
