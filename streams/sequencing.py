"""Offsets in order, without holes: the last line of defence against a consumer that skips messages.

Our topics have contiguous offsets, so within one partition and one consumer generation the events a
processor sees must be `committed, committed + 1, ...`. faust-streaming was seen to skip a message
around a rebalance while delivering the ones after it (whose acks then committed past the skipped
one: a command that never produced an event). This sequencer notices the hole at the next event,
seeks the partition back to the missing offset and drops what arrives out of order until the missing
message comes round again; a message already processed in this generation (re-fetched after such a
seek) is acked without being processed twice.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("ragstream.streams.sequencing")
REWINDS = Counter(
    "ragstream_partition_rewinds_total",
    "Partitions sought back to a message the consumer skipped",
    ["processor"],
)
# A seek that did not bring the missing message back is repeated after this long.
RESEEK_AFTER_S = 2.0


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._processor = processor
        self._generation = generation
        self._committed = committed
        self._rewind = rewind
        self._clock = clock
        self._seen_generation: int | None = None
        self._next: dict[Any, int] = {}
        self._rewound_at: dict[Any, float] = {}
        # Partitions without a commit, whose start was assumed to be offset 0.
        self._assumed_start: set[Any] = set()

    async def admit(self, tp: Any, offset: int) -> Verdict:
        generation = self._generation()
        if generation != self._seen_generation:
            # A rebalance seeks every partition to its committed offset: start counting from there.
            self._seen_generation = generation
            self._next.clear()
            self._rewound_at.clear()
            self._assumed_start.clear()
        if tp not in self._next:
            committed = self._committed(tp)
            if committed is None:
                # Nothing committed: the partition is read from its start, offset 0 on our topics
                # (kept forever). An event from before the rebalance must not pass for the start.
                self._assumed_start.add(tp)
            self._next[tp] = committed if committed is not None else 0
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
                self._processor, tp, expected, offset, expected,
            )  # fmt: skip
            REWINDS.labels(self._processor).inc()
            self._rewound_at[tp] = self._clock()
            await self._rewind(tp, expected)
        return Verdict.DROP


def faust_sequencer(app: Any, processor: str) -> OffsetSequencer:
    """A sequencer wired to a faust app's consumer (generation, committed offsets, seek)."""
    consumer = app.consumer

    def committed(tp: Any) -> int | None:
        # faust records the committed offsets it sought to after each assignment (None: none yet).
        value = consumer._committed_offset.get(tp)
        return int(value) if value is not None else None

    return OffsetSequencer(
        processor,
        generation=lambda: int(app.consumer_generation_id),
        committed=committed,
        rewind=consumer.seek,
    )
