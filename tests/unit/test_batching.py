"""Batching of stream events: no window, bounded by count and weight, order kept, acks only after the work."""

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


async def batches_of(
    source: AsyncIterator[int], max_size: int, max_weight: int | None = None
) -> list[list[int]]:
    # An item's weight is its value: think of it as the passages of one document.
    queue: BatchQueue[int] = BatchQueue(max_size, max_weight, weight=lambda item: item)
    queue.start(source)
    out = []
    while batch := await queue.next_batch():
        out.append(batch)
    return out


async def test_a_lone_item_is_handed_over_at_once_not_held_back_by_a_window() -> None:
    gate = asyncio.Event()

    async def one_edit_then_quiet() -> AsyncIterator[int]:
        yield 1
        await gate.wait()  # nothing else arrives for a long time

    queue: BatchQueue[int] = BatchQueue(32)
    queue.start(one_edit_then_quiet())
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(queue.next_batch(), timeout=5) == [1]
    assert loop.time() - started < 0.05  # the old 0.2 s window would have held it
    gate.set()
    await queue.stop()


async def test_items_that_arrived_together_share_a_batch_up_to_its_size() -> None:
    batches = await batches_of(paced([1] * 10), max_size=4)
    assert batches == [[1] * 4, [1] * 4, [1] * 2]


async def test_batches_grow_with_load_while_the_consumer_is_busy() -> None:
    async def steady() -> AsyncIterator[int]:
        for _ in range(30):
            await asyncio.sleep(0.005)
            yield 1

    queue: BatchQueue[int] = BatchQueue(32)
    queue.start(steady())
    sizes = []
    while batch := await queue.next_batch():
        sizes.append(len(batch))
        await asyncio.sleep(0.05)  # a model call: items keep arriving meanwhile
    assert sizes[0] == 1  # the first item did not wait for company
    assert max(sizes) > 3  # later ones carry what arrived during the previous call
    assert sum(sizes) == 30


async def test_the_weight_cap_is_honoured_and_order_is_kept() -> None:
    batches = await batches_of(paced([40, 40, 40, 10, 10, 90, 5]), max_size=32, max_weight=96)
    assert batches == [[40, 40], [40, 10, 10], [90, 5]]
    assert all(sum(b) <= 96 for b in batches)


async def test_an_item_heavier_than_the_cap_goes_alone() -> None:
    batches = await batches_of(paced([3, 500, 3]), max_size=32, max_weight=96)
    assert batches == [[3], [500], [3]]


async def test_the_source_failure_reaches_the_consumer() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("broker gone")

    queue: BatchQueue[int] = BatchQueue(5)
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

    queue: BatchQueue[int] = BatchQueue(5)
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
    async for batch in event_batches(stream, 2, is_current=lambda e: True, sequencer=in_order()):
        # Nothing of this batch is acked while it is being worked on.
        assert not {e.message.offset for e in batch} & set(stream.acked)
        seen.append([e.message.offset for e in batch])
    assert [o for b in seen for o in b] == [0, 1, 2, 3, 4]
    assert stream.acked == [0, 1, 2, 3, 4]


async def test_a_failure_while_handling_a_batch_leaves_it_unacked() -> None:
    stream = FakeStream([Event(Message(i, 1)) for i in range(6)])
    with pytest.raises(RuntimeError):
        async for batch in event_batches(stream, 2, is_current=lambda e: True, sequencer=in_order()):
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

    batches = event_batches(Gated([]), 1, is_current=lambda e: True, sequencer=sequencer)
    await anext(batches)
    assert sequencer.idle_since is None  # working on the batch
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    assert sequencer.idle_since is not None  # waiting for the next event
    gate.set()
    await waiting
    assert sequencer.idle_since is None
    await batches.aclose()


async def test_the_queue_says_when_its_consumer_waits_with_nothing_in_hand() -> None:
    # The embedding stage's bulk lane runs only while the edit lane's queue reports idle.
    arrive = asyncio.Event()
    told: list[bool] = []

    async def two_then_one() -> AsyncIterator[int]:
        yield 1
        yield 1
        await arrive.wait()
        yield 1

    queue: BatchQueue[int] = BatchQueue(32, on_idle=told.append)
    queue.start(two_then_one())
    assert await queue.next_batch() == [1, 1]
    assert told == [True, False]  # waited for the first item, then had work in hand
    waiting = asyncio.create_task(queue.next_batch())
    await asyncio.sleep(0.01)
    assert told[-1] is True and not waiting.done()
    arrive.set()
    assert await waiting == [1]
    assert told[-1] is False
    await queue.stop()
