"""The document registry and audit trail in PostgreSQL, projected from the events topic.

Each event is applied in its own transaction together with its offset, so a redelivered event is
applied once; every event (rejections included) lands in the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ragstream.projections import Unappliable
from ragstream.queries.projections.base import RegistryBacked
from ragstream.records import LogRecord
from ragstream.settings import Settings
from ragstream.topics import catalogue

EVENTS = frozenset({"DocumentUpserted", "DocumentDeleted", "DocumentAccessUpdated", "CommandRejected"})
PROJECTION = "registry"


class UnexpectedRecord(ValueError):
    """A record type that does not belong on the events topic."""


class RegistryProjection(RegistryBacked):
    name = "record_registry"
    max_batch = 64

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.topic = catalogue(settings.kafka.topic_prefix).events.name

    async def apply(self, records: Sequence[LogRecord]) -> list[Unappliable]:
        failed = []
        for rec in records:
            if rec.name not in EVENTS:
                failed.append(
                    Unappliable(rec, UnexpectedRecord(f"{rec.name} does not belong on {rec.topic}"))
                )
                continue
            try:
                await self.store.apply_event(
                    rec.name, rec.record, projection=PROJECTION,
                    topic=rec.topic, partition=rec.partition, offset=rec.offset,
                )  # fmt: skip
            except asyncpg.DataError as exc:  # e.g. NUL in a title from a direct producer
                failed.append(Unappliable(rec, exc))
        return failed
