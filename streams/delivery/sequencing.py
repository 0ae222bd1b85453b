"""Offsets in order, without holes: the last line of defence against a consumer that skips messages.

Our topics have contiguous offsets, so within one partition and one consumer generation the events a
processor sees must be `committed, committed + 1, ...`. faust-streaming was seen to skip a message
around a rebalance while delivering the ones after it (whose acks then committed past the skipped
one: a command that never produced an event). This sequencer notices the hole at the next event,
seeks the partition back to the missing offset and drops what arrives out of order until the missing
message comes round again; a message already processed in this generation (re-fetched after such a
seek) is acked without being processed twice.

Counting starts at the committed offset, which faust records only after its post-assignment seek;
the first events of a new assignment can come before that, so an unknown committed offset is asked
of the broker. (Counting from 0 there once stalled a partition: its events were dropped as "after a
hole", then faust's own seek to the committed offset overrode the seek back.)

A message skipped at the end of what was written has no later message to reveal the hole. So the
processor says when it is waiting for events (`idle`), and `audit` (every few seconds) seeks back
any partition whose next expected message has been in the log for `STALL_AFTER_S` while the
processor waited: it was fetched and lost on the way (seen: faust delivered only part of a batch
fetched while it finished recovery), or never fetched at all.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from prometheus_client import Counter

from ragstream.streams.delivery.patches import committed_offsets_recorded

log = logging.getLogger("ragstream.streams.delivery.sequencing")
REWINDS = Counter(
    "ragstream_partition_rewinds_total",
    "Partitions sought back to a message the consumer skipped (a hole, or a stalled partition)",
    ["processor"],
)
# A seek that did not bring the missing message back is repeated after this long.
RESEEK_AFTER_S = 2.0
# A processor waiting this long for events its partitions' logs already hold has lost them.
STALL_AFTER_S = 5.0
# How often a waiting processor's partitions are compared with the log ends.
AUDIT_PERIOD_S = 2.5


class Verdict(enum.Enum):
    PROCESS = "process"  # the next offset of its partition
    DUPLICATE = "duplicate"  # already processed in this generation: ack, do not process again
    DROP = "drop"  # after a hole: neither process nor ack; it comes round again after the seek


class OffsetSequencer:
    def __init__(
        self,
        processor: str,
        *,
        generation: Callable[[], int],
        committed: Callable[[Any], int | None],
        rewind: Callable[[Any, int], Awaitable[None]],
        broker_committed: Callable[[Any], Awaitable[int | None]] | None = None,
        assigned: Callable[[], Iterable[Any]] | None = None,
        end_offsets: Callable[[list[Any]], Awaitable[Mapping[Any, int]]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.processor = processor
        self._generation = generation
        self._committed = committed
        self._broker_committed = broker_committed
        self._assigned = assigned
        self._end_offsets = end_offsets
        # When the processor started waiting for its next event (None: it is busy with one).
        self._idle_since: float | None = None
        # Partitions whose next offset was in the log at the last look: (offset, first seen).
        self._suspects: dict[Any, tuple[int, float]] = {}
        self._rewind = rewind
        self._clock = clock
        self._seen_generation: int | None = None
        self._next: dict[Any, int] = {}
        self._rewound_at: dict[Any, float] = {}
        # Partitions without a commit, whose start was assumed to be offset 0.
        self._assumed_start: set[Any] = set()

    @property
    def idle_since(self) -> float | None:
        """When the processor started waiting for its next event; None while it works on one."""
        return self._idle_since

    def idle(self) -> None:
        """The processor is waiting for its next event."""
        if self._idle_since is None:
            self._idle_since = self._clock()

    def busy(self) -> None:
        """The processor got an event (or a batch) and is working on it."""
        self._idle_since = None

    async def audit(self) -> None:
        """Seek back the partitions whose next message has been in the log for `STALL_AFTER_S`
        while the processor waited for events (see the module notes). Meant to run every
        `AUDIT_PERIOD_S`, outside rebalances; each run looks at the log ends once."""
        if self._assigned is None or self._end_offsets is None or self._idle_since is None:
            self._suspects.clear()
            return
        now = self._clock()
        idle_since = self._idle_since
        current = self._generation() == self._seen_generation
        expected: dict[Any, int] = {}
        for tp in self._assigned():
            counted = self._next.get(tp) if current else None
            if counted is None:
                committed = self._committed(tp)
                counted = committed if committed is not None else 0
            expected[tp] = counted
        ends = await self._end_offsets(list(expected)) if expected else {}
        if self._idle_since != idle_since:
            self._suspects.clear()  # events came meanwhile: not stalled
            return
        suspects: dict[Any, tuple[int, float]] = {}
        for tp, offset in expected.items():
            end = ends.get(tp)
            if end is None or end <= offset:
                continue
            seen_offset, seen_at = self._suspects.get(tp, (offset, now))
            if seen_offset != offset or seen_at < idle_since:
                seen_at = now  # a different message, or the processor worked in between: start over
            if now - seen_at < STALL_AFTER_S:
                suspects[tp] = (offset, seen_at)
                continue
            # In the log since the first look, and the processor idle all along: it was lost.
            log.warning(
                "%s: partition %s holds offsets %d to %d, none delivered in %.0f s; seeking back to %d",
                self.processor, tp, offset, end - 1, now - seen_at, offset,
            )  # fmt: skip
            REWINDS.labels(self.processor).inc()
            await self._rewind(tp, offset)
        self._suspects = suspects

    async def admit(self, tp: Any, offset: int) -> Verdict:
        generation = self._generation()
        if generation != self._seen_generation:
            # A rebalance seeks every partition to its committed offset: start counting from there.
            self._seen_generation = generation
            self._next.clear()
            self._rewound_at.clear()
            self._assumed_start.clear()
        committed = self._committed(tp)
        if tp not in self._next:
            if committed is None and self._broker_committed is not None:
                # The consumer's own record is empty for a partition without a commit, and also
                # for a moment after an assignment (faust resumes a new partition just before it
                # seeks it to the committed offset and records that offset). Ask the broker.
                committed = await self._broker_committed(tp)
            if committed is None:
                # Nothing committed: the partition is read from its start, offset 0 on our topics
                # (kept forever). An event from before the rebalance must not pass for the start.
                self._assumed_start.add(tp)
            self._next[tp] = committed if committed is not None else 0
        elif committed is not None and committed > self._next[tp]:
            # Counted from an offset the commit has since passed (the first events of a new
            # assignment came before faust recorded the committed offset, and the broker's answer
            # was older): counting on from there would drop everything after faust's seek to the
            # committed offset, and nothing would seek back (a stalled partition). Everything
            # below a committed offset was processed: count from there.
            self._next[tp] = committed
            self._assumed_start.discard(tp)
            self._rewound_at.pop(tp, None)
        expected = self._next[tp]
        last = self._rewound_at.get(tp)
        if (
            offset > expected
            and tp in self._assumed_start
            and last is not None
            and self._clock() - last >= RESEEK_AFTER_S
        ):
            # Sought back to 0 and still later offsets only: retention removed the start. Begin here.
            expected = offset
        if offset == expected:
            self._assumed_start.discard(tp)
            self._next[tp] = offset + 1
            self._rewound_at.pop(tp, None)
            return Verdict.PROCESS
        if offset < expected:
            return Verdict.DUPLICATE
        if last is None or self._clock() - last >= RESEEK_AFTER_S:
            log.warning(
                "%s: partition %s skipped from %d to %d; seeking back to %d",
                self.processor, tp, expected, offset, expected,
            )  # fmt: skip
            REWINDS.labels(self.processor).inc()
            self._rewound_at[tp] = self._clock()
            await self._rewind(tp, expected)
        return Verdict.DROP


def faust_sequencer(app: Any, processor: str, topics: Iterable[str]) -> OffsetSequencer:
    """A sequencer wired to a faust app's consumer (generation, committed offsets, seek) for a
    processor of `topics`, audited by the app's `audit_sequencers` task."""
    consumer = app.consumer
    names = frozenset(topics)

    def committed(tp: Any) -> int | None:
        # faust records the committed offsets it sought to after each assignment (None: none yet).
        value = consumer._committed_offset.get(tp)
        return int(value) if value is not None else None

    async def broker_committed(tp: Any) -> int | None:
        if committed_offsets_recorded(consumer):
            return None  # faust recorded none for this partition: it has no commit
        thread = consumer._thread  # aiokafka runs in faust's consumer thread: call it there
        try:
            value = await thread.call_thread(thread._ensure_consumer().committed, tp)
        except Exception as exc:  # e.g. the coordinator moved: counting from 0 is safe, only slower
            log.warning("%s: committed offset of %s unavailable (%r); counting from 0", processor, tp, exc)
            return None
        return int(value) if value is not None else None

    async def end_offsets(tps: list[Any]) -> Mapping[Any, int]:
        return await consumer.highwaters(*tps)  # type: ignore[no-any-return]

    sequencer = OffsetSequencer(
        processor,
        generation=lambda: int(app.consumer_generation_id),
        committed=committed,
        rewind=consumer.seek,
        broker_committed=broker_committed,
        assigned=lambda: [tp for tp in consumer.assignment() if tp.topic in names],
        end_offsets=end_offsets,
    )
    # By name: an agent restarted by its supervisor replaces its old sequencer.
    _sequencers(app)[processor] = sequencer
    return sequencer


def _sequencers(app: Any) -> dict[str, OffsetSequencer]:
    registry: dict[str, OffsetSequencer] | None = getattr(app, "_ragstream_sequencers", None)
    if registry is None:
        registry = {}
        app._ragstream_sequencers = registry
    return registry


def audit_sequencers(app: Any, interval_s: float = AUDIT_PERIOD_S) -> None:
    """A task on the faust app that audits every processor's sequencer outside rebalances (a
    loop rather than a timer: a slow look at the log ends is not an overlapping timer)."""

    @app.task  # type: ignore[untyped-decorator]
    async def audit_partitions() -> None:
        while True:
            await asyncio.sleep(interval_s)
            for sequencer in list(_sequencers(app).values()):
                if app.rebalancing:
                    break
                try:
                    await sequencer.audit()
                except Exception as exc:  # a broker hiccup: the next round tries again
                    log.warning("auditing %s failed: %r", sequencer.processor, exc)
