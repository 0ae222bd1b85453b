"""Size- or time-bounded batches of stream events, each acked only after its batch was handled.

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


class _Closed(Exception):
    """The source ended normally; no more items will come."""


class BatchQueue(Generic[T]):
    """A bounded queue filled by a source task; `next_batch` collects up to `max_size` items,
    waiting at most `within` seconds after the first one for the rest."""

    def __init__(self, max_size: int, within: float) -> None:
        self.max_size = max_size
        self.within = within
        # Bounded: a slow consumer holds the source back instead of buffering without limit.
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=max_size)
        self._source: asyncio.Future[None] | None = None

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

    async def _get(self, timeout: float | None) -> T | None:
        """The next item, None on timeout; raises the source's error, or _Closed when it ended."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        assert self._source is not None, "start() the queue first"
        if self._source.done():
            self._source.result()  # re-raises the source's failure
            raise _Closed
        getter = asyncio.ensure_future(self._queue.get())
        waiting: set[asyncio.Future[Any]] = {getter, self._source}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self._source in done:
            self._source.result()
            raise _Closed
        return None

    async def next_batch(self) -> list[T]:
        """At least one item; empty only when the source has ended and everything was taken."""
        try:
            first = await self._get(None)
        except _Closed:
            return []
        assert first is not None
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.within
        while len(batch) < self.max_size:
            try:
                item = await self._get(max(0.0, deadline - loop.time()))
            except _Closed:
                break
            if item is None:
                break
            batch.append(item)
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
    within: float,
    *,
    is_current: Callable[[Any], bool],
    sequencer: OffsetSequencer,
) -> AsyncIterator[list[Any]]:
    """Batches of a faust stream's events; an event is acked once the caller asks for the next batch
    (or leaves the loop normally), never before, so unfinished work is redelivered.

    Events that are no longer current (`is_current` false: fetched before a rebalance moved their
    partition) are dropped unacked: their partition's owner reads them from the committed offset.
    """
    events: BatchQueue[Any] = BatchQueue(max_size, within)
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
