"""Feeds the embeddings topic into an index generation.

The indexes are embedded (in-process, single writer), so each query node materialises its own copy
from the log: every partition is assigned to it (no consumer group) and it resumes from the offsets
stored with the index data. A rebuild runs a second feed into a new generation; `adopt` then hands
that feed's generation and consumer to the live feed, which the query service keeps referencing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from enum import Enum

from aiokafka import AIOKafkaConsumer
from prometheus_client import Histogram

from ragstream.codec import Codec
from ragstream.logdecode import BatchDecoder
from ragstream.logread import decode_batches, open_log_consumer
from ragstream.observability.metrics import ERRORS
from ragstream.queries.indexing.generation import Generation, next_vector_folder, set_vector_folder
from ragstream.queries.indexing.optimize import (
    OptimizeFailed,
    build_beside,
    discard,
    optimize_apart,
    retire_replaced,
)
from ragstream.queries.readmodels.projection import apply_records
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.records import LogRecord
from ragstream.settings import KafkaSettings

# New points after which the embedded vector index is rebuilt once the feed is idle.
OPTIMIZE_AFTER_POINTS = 1000
# With a decoder process: records per fetch, small so that it starts decoding the next records
# while the feed applies the previous ones, and fetches decoded ahead at most (memory).
DECODE_AHEAD_RECORDS = 250
DECODE_AHEAD_FETCHES = 8
_Decoding = asyncio.Future[tuple[list[LogRecord], int]]


class _Mark(Enum):
    """Besides decodings, in the queue of fetches decoded ahead."""

    CAUGHT_UP = "an empty fetch"
    STOPPED = "the fetcher stopped"


log = logging.getLogger("ragstream.queries.feed")
FRESHNESS = Histogram(
    "ragstream_freshness_seconds",
    "Command produced -> applied to the read model",
    ["read_model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


class IndexFeed:
    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        codec: Codec,
        generation: Generation,
        *,
        on_applied: Callable[[list[tuple[str, str, int, bool]]], object] | None = None,
        observe_freshness: bool = True,
        batch_records: int = 500,
        decoder: BatchDecoder | None = None,
    ) -> None:
        self._kafka = kafka
        self.topic = topic
        self._codec = codec
        self.generation = generation
        self._on_applied = on_applied
        # A rebuild re-reads old events; their age says nothing about how fresh the live node is.
        self._observe_freshness = observe_freshness
        # Records per read and apply: every batch ends in a commit of each index, so a rebuild's
        # catch-up reads larger ones (a live feed's batches are small anyway: what arrived).
        self._batch_records = batch_records
        # A rebuild's catch-up decodes in a child process, ahead of what it applies.
        self._decoder = decoder
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._pausing = False
        self._progress = asyncio.Condition()
        self.command_positions: dict[int, int] = dict(generation.projector.state.command_positions())
        self.errors = 0
        # HNSW builds block for tens of seconds per 100k points: only run them when the feed is idle.
        self._unoptimized = 0
        self._idle_since = time.monotonic()
        # The HNSW build running beside the feed (on a copy of the index), if one is.
        self._building: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer, tps = await open_log_consumer(self._kafka, self.topic, "index-feed")
        stored = self.next_offsets()
        for tp in tps:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                await self._consumer.seek_to_beginning(tp)
        self.resume()

    def next_offsets(self) -> dict[int, int]:
        return self.generation.projector.state.next_offsets(self.topic)

    async def log_range(self) -> tuple[dict[int, int], dict[int, int]]:
        """First and next-to-be-written offset of every partition (for progress)."""
        assert self._consumer is not None
        tps = list(self._consumer.assignment())
        first = await self._consumer.beginning_offsets(tps)
        end = await self._consumer.end_offsets(tps)
        return {tp.partition: int(o) for tp, o in first.items()}, {
            tp.partition: int(o) for tp, o in end.items()
        }

    def resume(self) -> None:
        self._pausing = False
        self._task = asyncio.create_task(self._run(), name=f"index-feed-{self.generation.name}")

    def failure(self) -> BaseException | None:
        """The error that stopped the feed, if one did (a stalled feed must not look merely slow)."""
        if self._task is None or not self._task.done() or self._task.cancelled():
            return None
        return self._task.exception()

    async def pause(self) -> None:
        """Stop between batches (never mid-batch), so the generation sits at a known position."""
        # A build on a copy would put the copy in the index's place behind the caller's back (a
        # rebuild's swap, a build apart): it stops here, and starts again once the feed is idle.
        await self._stop_building()
        if self._task is None:
            return
        self._pausing = True
        try:
            await self._task
        except Exception:
            # A feed that died (say, on a damaged index) can still be replaced by a rebuild.
            log.exception("index feed of %s had stopped with an error", self.generation.name)
        self._task = None

    def adopt(self, other: IndexFeed) -> tuple[Generation, AIOKafkaConsumer | None]:
        """Blue/green swap: take over the generation and consumer of another feed, both paused.

        Synchronous, so nothing else on the event loop runs between the old and the new generation
        (the caller swaps the query embedder in the same step when the model changes). The caller
        resumes this feed and wakes waiters with `notify`; waiters for read-your-writes wait on this
        feed's condition throughout, so none is stranded. Returns what was given up, to retire.
        """
        if self._task is not None or other._task is not None:
            raise RuntimeError("pause both feeds before a swap")
        retired = (self.generation, self._consumer)
        self.generation, self._consumer = other.generation, other._consumer
        # The new generation may read another topic (an embedding generation's own).
        self.topic = other.topic
        other._consumer = None
        for partition, offset in other.command_positions.items():
            self.command_positions[partition] = max(self.command_positions.get(partition, -1), offset)
        return retired

    async def notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def stop(self) -> None:
        await self._stop_building()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _run(self) -> None:
        assert self._consumer is not None
        if self._decoder is not None:
            await self._run_decoding_ahead(self._consumer, self._decoder)
            return
        while not self._pausing:
            batches = await self._consumer.getmany(timeout_ms=250, max_records=self._batch_records)
            await self._take(*decode_batches(self._codec, batches))

    async def _run_decoding_ahead(self, consumer: AIOKafkaConsumer, decoder: BatchDecoder) -> None:
        """Fetch small batches and decode them in the decoder process, in order, while the records
        decoded before are applied, in batches of about `batch_records` (at most one fetch more).
        Everything fetched is applied before this returns, so a paused feed sits at a known position."""
        ready: asyncio.Queue[_Decoding | _Mark] = asyncio.Queue(DECODE_AHEAD_FETCHES)

        async def fetch() -> None:
            try:
                while not self._pausing:
                    batches = await consumer.getmany(timeout_ms=250, max_records=DECODE_AHEAD_RECORDS)
                    await ready.put(
                        asyncio.ensure_future(decoder.decode(batches)) if batches else _Mark.CAUGHT_UP
                    )
            except Exception as exc:
                # Handed to the applier, which raises it: the feed stops with the error (failure()),
                # as one fetching for itself does, instead of waiting for fetches that never come.
                failed: _Decoding = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                await ready.put(failed)
                return
            await ready.put(_Mark.STOPPED)

        fetcher = asyncio.create_task(fetch())
        try:
            item: _Decoding | _Mark | None = None
            while item is not _Mark.STOPPED:
                records: list[LogRecord] = []
                errors = 0
                item = await ready.get()
                # What is already fetched joins the batch, up to its size.
                while not isinstance(item, _Mark):
                    try:
                        decoded, failed = await item
                    except Exception:
                        if records or errors:
                            await self._take(records, errors)  # what came before the error
                        raise
                    records += decoded
                    errors += failed
                    if len(records) >= self._batch_records or ready.empty():
                        break
                    item = ready.get_nowait()
                if records or errors or item is _Mark.CAUGHT_UP:
                    await self._take(records, errors)
        finally:
            fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetcher
            while not ready.empty():
                if not isinstance(left := ready.get_nowait(), _Mark):
                    left.cancel()

    async def _take(self, records: list[LogRecord], errors: int) -> None:
        self.errors += errors
        if errors:
            ERRORS.labels("index-feed", "UndecodableRecord").inc(errors)
        if records:
            self._idle_since = time.monotonic()
            self._unoptimized += sum(len(r.record.get("chunks", ())) for r in records)
            await self.apply(records)
        else:
            await self._maybe_optimize()

    async def apply(self, records: list[LogRecord]) -> None:
        """Apply a batch read from the log, then wake the read-your-writes waiters it satisfies."""
        result = await asyncio.to_thread(self.generation.projector.apply_batch, records)
        if self._observe_freshness:
            for rec in records:
                produced = rec.record.get("event_time")
                if rec.name != "CommandRejected" and produced is not None:
                    for read_model, flushed in result.flushed_at.items():
                        FRESHNESS.labels(read_model).observe(max(0.0, flushed - produced.timestamp()))
        for p, o in self.generation.projector.state.command_positions().items():
            # Never backwards: after a swap this feed's positions may be ahead of its generation's.
            self.command_positions[p] = max(self.command_positions.get(p, -1), o)
        if self._on_applied is not None and result.applied:
            maybe = self._on_applied(result.applied)
            if asyncio.iscoroutine(maybe):
                await maybe
        await self.notify()

    @property
    def optimization_due(self) -> bool:
        """True from the point the embedded vector index has enough new points to be rebuilt (HNSW,
        once the feed is idle) until that build is done. Searches in between may find other
        neighbours than after it, so a measurement waits for it (`ragstream eval`)."""
        return self._building is not None or (
            self._unoptimized >= OPTIMIZE_AFTER_POINTS
            and isinstance(self.generation.projector.vector, QdrantEdgeVectorIndex)
        )

    async def _maybe_optimize(self, idle_s: float = 5.0) -> None:
        """Start an HNSW build beside the feed, once enough new points wait and the feed is idle."""
        if self._building is not None or not self.optimization_due:
            return
        if time.monotonic() - self._idle_since < idle_s:
            return
        self._building = asyncio.create_task(self.optimize(), name=f"hnsw-{self.generation.name}")
        self._building.add_done_callback(self._built)

    def _built(self, task: asyncio.Task[None]) -> None:
        if self._building is task:
            self._building = None
        if not task.cancelled() and (error := task.exception()) is not None:
            ERRORS.labels("index-feed", "OptimizeFailed").inc()
            log.error("the HNSW build of %s failed: %s", self.generation.name, error, exc_info=error)

    async def built(self) -> None:
        """Wait for the HNSW build running beside the feed, if one is."""
        if self._building is not None:
            await asyncio.wait([self._building])

    async def _stop_building(self) -> None:
        if self._building is not None:
            self._building.cancel()
            await asyncio.wait([self._building])

    async def optimize(self) -> None:
        """Build the vector index's HNSW graph over what the generation holds, on a copy in a child
        process, while the index as it is goes on serving searches and taking the feed's writes;
        the writes made after the copy are then made to the copy too, and it takes the index's
        place. Built in this process, the graph held the GIL and froze every request for the whole
        build (8-10 s per 10,000 new points at 100k here), and the feed's writes waited for it."""
        generation = self.generation
        projector, old = generation.projector, generation.projector.vector
        assert isinstance(old, QdrantEdgeVectorIndex)  # a server vector index optimizes itself
        started, counted = time.monotonic(), self._unoptimized
        wanted = [True]  # until this build ends: a copy finished after a cancel starts no recording

        def copied() -> None:  # under the write lock, with the copy
            if wanted[0]:
                projector.vector_writes_since_copy = []

        def forget() -> None:
            with projector.write_lock:
                wanted[0] = False
                projector.vector_writes_since_copy = None

        try:
            built, failure = await build_beside(
                old, next_vector_folder(generation.path), projector.write_lock, copied
            )
            if built is None:
                # Not retried before as many new points again: a build that fails would fail again at once.
                self._unoptimized = max(0, self._unoptimized - counted)
                ERRORS.labels("index-feed", "OptimizeFailed").inc()
                log.error("%s; searches scan the new points until the next build", failure)
                return
            swapping = asyncio.ensure_future(asyncio.to_thread(_swap_in, generation, built))
            try:
                caught_up = await asyncio.shield(swapping)
            except asyncio.CancelledError:
                # A swap is never cut in half: it ends, and the index it replaced is retired, first.
                await asyncio.wait([swapping])
                if not swapping.cancelled() and swapping.exception() is None:
                    retire_replaced(old)
                raise
            except Exception as exc:
                self._unoptimized = max(0, self._unoptimized - counted)
                ERRORS.labels("index-feed", "OptimizeFailed").inc()
                log.error(
                    "the built copy could not take the writes made meanwhile (%s); the index stays", exc
                )
                return
        finally:
            await asyncio.to_thread(forget)
        self._unoptimized = max(0, self._unoptimized - counted)
        log.info(
            "built the HNSW graph (%d new points) in %.1fs; %d records written meanwhile made to it too",
            counted, time.monotonic() - started, caught_up,
        )  # fmt: skip
        retire_replaced(old)

    async def optimize_apart(self) -> None:
        """Build the HNSW graph in a child process (see ragstream.queries.indexing.optimize), the
        feed paused meanwhile: for a generation that is not serving yet (a rebuild's)."""
        projector = self.generation.projector
        if not isinstance(projector.vector, QdrantEdgeVectorIndex):
            return  # a server vector index optimizes itself
        await self.pause()
        try:
            started = time.monotonic()
            projector.vector, failure = await optimize_apart(projector.vector)
            if failure is not None:
                raise OptimizeFailed(failure)
            log.info(
                "built the HNSW graph of %s apart in %.1fs", self.generation.name, time.monotonic() - started
            )
            self._unoptimized = 0
        finally:
            self.resume()

    def is_caught_up_to(self, positions: dict[int, int]) -> bool:
        return all(self.command_positions.get(p, -1) >= o for p, o in positions.items())

    async def wait_for(self, positions: dict[int, int], timeout: float) -> bool:
        """Read-your-writes: wait until every command position given has reached the indexes."""
        if self.is_caught_up_to(positions):
            return True
        async with self._progress:
            try:
                await asyncio.wait_for(
                    self._progress.wait_for(lambda: self.is_caught_up_to(positions)), timeout
                )
            except TimeoutError:
                return False
        return True

    def has_passed(self, other: IndexFeed) -> bool:
        """Whether this feed has applied everything the other has: by offsets on the same topic, by
        command positions across topics (both topics carry the position of the command behind each
        record, in command order per partition)."""
        if self.topic == other.topic:
            mine = self.next_offsets()
            return all(mine.get(p, 0) >= o for p, o in other.next_offsets().items())
        return self.is_caught_up_to(dict(other.command_positions))


def _swap_in(generation: Generation, built: QdrantEdgeVectorIndex) -> int:
    """Make the writes recorded since the copy to the built copy, then put it in the index's place,
    all under the write lock (no write in between); how many records were made again."""
    projector = generation.projector
    with projector.write_lock:
        since, projector.vector_writes_since_copy = projector.vector_writes_since_copy, None
        try:
            if since is None:
                raise RuntimeError("the writes made since the copy were not recorded")
            for records, new_documents in since:
                apply_records(records, [built], new_documents)
            built.flush()
        except BaseException:
            discard(built)  # the index as it is holds every write
            raise
        set_vector_folder(generation.path, built.path)
        projector.vector = built
        return sum(len(records) for records, _ in since)
