"""Adaptive batches of stream events (bounded in count and weight, never waiting on a timer), each
acked only after its batch was handled.

faust's `take_events` keeps its buffer in a processor shared with a background drainer; around
rebalances that buffer was seen to lose events without acking them (their partitions then never
committed again and stopped being embedded until the next rebalance). Here one task pumps the
stream into a bounded queue, the caller takes batches from the queue, and every event stays unacked
until the caller has finished with its batch, so a crash or rebalance at any point leaves the event
to be processed again rather than dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from ragstream.streams.delivery.sequencing import OffsetSequencer, Verdict

T = TypeVar("T")


class BatchQueue(Generic[T]):
    """A bounded queue filled by a source task; `next_batch` waits for one item, then takes what has
    already arrived (never waiting for more), up to `max_size` items and `max_weight` in all.

    No window: a lone item (one edit on an idle stream) is handed over at once, and batches grow by
    themselves with load, since whatever arrives while the caller works on a batch makes the next
    one. The weight cap (passages per model call) bounds how long any item waits behind the batch
    ahead of it; an item heavier than the cap goes alone.
    """

    def __init__(
        self,
        max_size: int,
        max_weight: int | None = None,
        weight: Callable[[T], int] = lambda _: 1,
        on_idle: Callable[[bool], None] = lambda _: None,
    ) -> None:
        self.max_size = max_size
        # Told True when the caller waits on an empty queue, False when an item arrives: whether
        # this stream has work in hand (the embedding stage lets bulk work run only while the
        # interactive lane has none).
        self._on_idle = on_idle
        self.max_weight = max_weight
        self._weight = weight
        # Bounded: a slow consumer holds the source back instead of buffering without limit.
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=max_size)
        self._source: asyncio.Future[None] | None = None
        # An item taken off the queue that did not fit its batch: it opens the next one.
        self._held: list[tuple[T, int]] = []

    def start(self, source: AsyncIterator[T]) -> None:
        async def pump() -> None:
            async for item in source:
                await self._queue.put(item)

        self._source = asyncio.ensure_future(pump())

    async def stop(self) -> None:
        if self._source is not None and not self._source.done():
            self._source.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._source

    async def _first(self) -> T | None:
        """The next item, waiting as long as it takes; None when the source has ended."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        assert self._source is not None, "start() the queue first"
        if self._source.done():
            self._source.result()  # re-raises the source's failure
            return None
        getter = asyncio.ensure_future(self._queue.get())
        waiting: set[asyncio.Future[Any]] = {getter, self._source}
        self._on_idle(True)
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        self._on_idle(False)  # not when cancelled: a stopped stream holds nothing
        if getter in done:
            return getter.result()
        getter.cancel()
        self._source.result()
        return None

    async def next_batch(self) -> list[T]:
        """At least one item; empty only when the source has ended and everything was taken."""
        if self._held:
            first, weight = self._held.pop()
        else:
            item = await self._first()
            if item is None:
                return []
            first, weight = item, self._weight(item)
        batch, total = [first], weight
        while len(batch) < self.max_size:
            if self._queue.empty():
                # One turn of the event loop lets the source hand over what it already holds
                # (records fetched with this one); no timer, so an idle stream is never waited on.
                await asyncio.sleep(0)
                if self._queue.empty():
                    break
            item = self._queue.get_nowait()
            weight = self._weight(item)
            if self.max_weight is not None and total + weight > self.max_weight:
                self._held.append((item, weight))
                break
            batch.append(item)
            total += weight
        return batch


def owned_by(app: Any) -> Callable[[Any], bool]:
    """Whether this faust worker still owns an event's partition (it may have moved in a rebalance)."""
    return lambda event: event.message.tp in app.consumer.assignment()


async def owned_events(
    stream: Any, *, owns: Callable[[Any], bool], sequencer: OffsetSequencer | None
) -> AsyncIterator[Any]:
    """A faust stream's events one at a time, each acked once the caller asks for the next one.

    An event of a partition this worker no longer owns (fetched before a rebalance) is neither
    handed out nor acked: its partition's owner processes it from the committed offset, and a
    zombie write (say, to the document-state table) cannot race the owner's. Events come out in
    offset order without holes (see streams.sequencing).
    """
    if sequencer is not None:
        sequencer.idle()
    async for event in stream.noack().events():
        if not owns(event):
            continue
        if sequencer is None:
            verdict = Verdict.PROCESS
        else:
            sequencer.busy()
            verdict = await sequencer.admit(event.message.tp, event.message.offset)
        if verdict is Verdict.DUPLICATE:
            await stream.ack(event)
        elif verdict is Verdict.PROCESS:
            yield event
            await stream.ack(event)
        if sequencer is not None:
            sequencer.idle()


async def event_batches(
    stream: Any,
    max_size: int,
    *,
    max_weight: int | None = None,
    weight: Callable[[Any], int] = lambda _: 1,
    is_current: Callable[[Any], bool],
    sequencer: OffsetSequencer,
    on_idle: Callable[[bool], None] = lambda _: None,
) -> AsyncIterator[list[Any]]:
    """Batches of a faust stream's events; an event is acked once the caller asks for the next batch
    (or leaves the loop normally), never before, so unfinished work is redelivered.

    Events that are no longer current (`is_current` false: fetched before a rebalance moved their
    partition) are dropped unacked: their partition's owner reads them from the committed offset.
    """
    events: BatchQueue[Any] = BatchQueue(max_size, max_weight, weight, on_idle)
    events.start(stream.noack().events())
    try:
        while True:
            sequencer.idle()
            batch = await events.next_batch()
            sequencer.busy()
            if not batch:
                break
            current = []
            for event in batch:
                if not is_current(event):
                    continue
                verdict = await sequencer.admit(event.message.tp, event.message.offset)
                if verdict is Verdict.PROCESS:
                    current.append(event)
                elif verdict is Verdict.DUPLICATE:
                    await stream.ack(event)
            if not current:
                continue
            yield current
            for event in current:
                await stream.ack(event)
    finally:
        await events.stop()
