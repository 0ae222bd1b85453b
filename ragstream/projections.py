"""The port between the log and a read model that keeps shared state.

The query side owns its read models and the projections that feed them. Those whose state is
shared by every query node (the PostgreSQL registry and audit view, server indexes such as
OpenSearch) must be written once per record, so they run inside the stream workers' consumer group,
where each partition has one owner; the composition root hands them to the workers. The workers
deliver records in offset order per partition, at least once, and commit a batch only after
`apply` returned; a projection therefore has to be idempotent (version guards, stored offsets).

A record that does not decode is dead-lettered before `apply` sees it, unless the projection says
`reads_undecodable = True` (see ReadsUndecodable): the follower of the dead-letter topic must never
dead-letter what it reads, or one bad record would circle forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragstream.records import LogRecord


@dataclass(frozen=True)
class Unappliable:
    """A record that can never be applied (it breaks a rule of the read model); it is dead-lettered
    and its partition keeps flowing."""

    record: LogRecord
    error: Exception


@runtime_checkable
class Projection(Protocol):
    # The processor's name in metrics, logs and dead letters.
    name: str
    # The topic it follows.
    topic: str
    # At most this many records per `apply` (batches grow with load; a lone record is not held back).
    max_batch: int

    async def open(self) -> None:
        """Connect to the read model; called once before the first batch."""

    async def apply(self, records: Sequence[LogRecord]) -> list[Unappliable]:
        """Apply the records in order. A failure that waiting can heal (an unreachable server) is
        retried here, never skipped: returning means every other record is durable."""

    async def ready(self) -> bool:
        """Whether the read model is reachable now (the worker's /ready)."""

    async def close(self) -> None:
        """Release what `open` took; the worker calls it when the projection's agent stops."""


@runtime_checkable
class ReadsUndecodable(Protocol):
    """A projection that is given undecodable records as they are (`LogRecord.name` "", its key and
    headers kept) instead of having them dead-lettered."""

    reads_undecodable: bool
