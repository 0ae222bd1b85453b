"""Batching of stream events: bounded by size and time, order kept, acks only after the work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from ragstream.streams.delivery.batching import BatchQueue, event_batches
from ragstream.streams.delivery.sequencing import OffsetSequencer

pytestmark = pytest.mark.unit


async def paced(items: list[int], gaps: dict[int, float] | None = None) -> AsyncIterator[int]:
    for item in items:
        await asyncio.sleep((gaps or {}).get(item, 0))
        yield item


async def batches_of(source: AsyncIterator[int], max_size: int, within: float) -> list[list[int]]:
    queue: BatchQueue[int] = BatchQueue(max_size, within)
    queue.start(source)
    out = []
    while batch := await queue.next_batch():
        out.append(batch)
    return out


async def test_a_full_batch_is_handed_over_without_waiting_for_the_window() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    batches = await batches_of(paced(list(range(10))), max_size=4, within=30)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert loop.time() - started < 10  # the 30 s window never ran out


async def test_a_quiet_source_closes_the_batch_when_the_window_ends() -> None:
    batches = await batches_of(paced([1, 2, 3, 4], gaps={3: 0.5}), max_size=10, within=0.1)
    assert batches == [[1, 2], [3, 4]]


async def test_the_source_failure_reaches_the_consumer() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("broker gone")

    queue: BatchQueue[int] = BatchQueue(5, 0.05)
    queue.start(failing())
    with pytest.raises(RuntimeError, match="broker gone"):
        # The first batch may or may not hold the item before the failure surfaces.
        for _ in range(3):
            await queue.next_batch()


async def test_stop_cancels_a_source_that_is_still_waiting() -> None:
    async def endless() -> AsyncIterator[int]:
        while True:
            await asyncio.sleep(10)
            yield 0

    queue: BatchQueue[int] = BatchQueue(5, 0.05)
    queue.start(endless())
    await asyncio.wait_for(queue.stop(), timeout=2)


@dataclass
class Message:
    offset: int
    generation_id: int
    tp: tuple[str, int] = ("t", 0)


@dataclass
class Event:
    message: Message


@dataclass
class FakeStream:
    """The two calls event_batches makes on a faust stream: noack().events() and ack()."""

    events_to_deliver: list[Event]
    acked: list[int] = field(default_factory=list)

    def noack(self) -> FakeStream:
        return self

    async def events(self) -> AsyncIterator[Event]:
        for event in self.events_to_deliver:
            yield event

    async def ack(self, event: Event) -> bool:
        self.acked.append(event.message.offset)
        return True


def in_order(committed: int | None = None) -> OffsetSequencer:
    """No rebalance, no skipped message: every event arrives in order from `committed` here."""

    async def never(tp: object, offset: int) -> None:
        raise AssertionError("no hole expected")

    return OffsetSequencer("test", generation=lambda: 1, committed=lambda tp: committed, rewind=never)


async def test_events_are_acked_only_after_their_batch_was_handled() -> None:
    stream = FakeStream([Event(Message(i, 1)) for i in range(5)])
    seen = []
    async for batch in event_batches(stream, 2, 0.05, is_current=lambda e: True, sequencer=in_order()):
        # Nothing of this batch is acked while it is being worked on.
        assert not {e.message.offset for e in batch} & set(stream.acked)
        seen.append([e.message.offset for e in batch])
    assert [o for b in seen for o in b] == [0, 1, 2, 3, 4]
    assert stream.acked == [0, 1, 2, 3, 4]


async def test_a_failure_while_handling_a_batch_leaves_it_unacked() -> None:
    stream = FakeStream([Event(Message(i, 1)) for i in range(6)])
    with pytest.raises(RuntimeError):
        async for batch in event_batches(stream, 2, 0.05, is_current=lambda e: True, sequencer=in_order()):
            if batch[0].message.offset == 2:
                raise RuntimeError("model crashed")
    assert stream.acked == [0, 1]  # offsets 2 onwards will be redelivered


async def test_events_from_before_a_rebalance_are_neither_handled_nor_acked() -> None:
    generation = {"now": 1}
    stream = FakeStream([Event(Message(i, 1 if i < 3 else 2)) for i in range(6)])
    generation["now"] = 2  # the rebalance landed while the old events were still queued
    handled = []
    async for batch in event_batches(
        stream,
        10,
        0.05,
        is_current=lambda e: e.message.generation_id == generation["now"],
        sequencer=in_order(committed=3),
    ):
        handled.extend(e.message.offset for e in batch)
    assert handled == [3, 4, 5]
    assert stream.acked == [3, 4, 5]


async def test_the_sequencer_knows_when_its_processor_waits_for_events() -> None:
    sequencer = in_order()
    gate = asyncio.Event()

    class Gated(FakeStream):
        async def events(self) -> AsyncIterator[Event]:
            yield Event(Message(0, 1))
            await gate.wait()
            yield Event(Message(1, 1))

    batches = event_batches(Gated([]), 1, 0.01, is_current=lambda e: True, sequencer=sequencer)
    await anext(batches)
    assert sequencer.idle_since is None  # working on the batch
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    assert sequencer.idle_since is not None  # waiting for the next event
    gate.set()
    await waiting
    assert sequencer.idle_since is None
    await batches.aclose()
