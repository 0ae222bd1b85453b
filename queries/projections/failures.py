"""Failed commands in the audit trail, projected from the dead-letter topic.

A command the validate stage accepted is in the history as `accepted` before its chunks are even
made; when a later stage dead-letters it (too large once embedded, a file that cannot be chunked, a
server index that refuses it), that version never becomes searchable. This projection adds the
command's `failed` entry, with the processor and the reason, so the history says so and a writer
waiting for the command (`GET /v1/documents/{id}/events`) is told at once instead of timing out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from ragstream.postgres import storable_text
from ragstream.projections import Unappliable
from ragstream.queries.projections.base import RegistryBacked
from ragstream.queries.registry.dead_letters import DocumentDeadLetter, read_dead_letter
from ragstream.queries.registry.store import Failure
from ragstream.records import LogRecord
from ragstream.settings import Settings
from ragstream.topics import catalogue

log = logging.getLogger("ragstream.queries.registry")
PROJECTION = "registry-failures"
# Ids, actor and reason as the audit trail keeps them: a dead letter may carry anything.
MAX_TEXT = 2000


def _stored(text: str) -> str:
    return storable_text(text, MAX_TEXT)


def failure_of(letter: DocumentDeadLetter, now: datetime) -> Failure | None:
    """The audit entry a dead letter makes: only for processors whose refusal keeps the version out
    of the read models (a notification that failed is no failure of the command), and not for a
    rejection passed along the pipeline (the command's outcome is decided: rejected)."""
    if not letter.blocks_indexing or letter.record == "CommandRejected":
        return None
    what = f"{letter.error_type}: {letter.reason}" if letter.error_type else letter.reason
    return Failure(
        tenant=letter.tenant,
        document_id=_stored(letter.document_id),
        command_id=_stored(letter.command_id or ""),
        event_id=_stored(f"dead-letter:{letter.source}:{letter.processor}"),
        event_type=_stored(letter.record or "undecodable record"),
        reason=_stored(f"dead-lettered by {letter.processor}: {what}"),
        # A dead-lettered command never got a version of its own (the one it expected is not it).
        version=letter.version if letter.own_version else None,
        actor=_stored(letter.actor),
        time=now,
    )


class FailureProjection(RegistryBacked):
    name = "record_failures"
    max_batch = 64
    # Dead letters are read as they are, undecodable ones included, and never dead-lettered again:
    # this projection follows the dead-letter topic itself.
    reads_undecodable = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.topic = catalogue(settings.kafka.topic_prefix).dlq.name

    async def apply(self, records: Sequence[LogRecord]) -> list[Unappliable]:
        for rec in records:
            letter = read_dead_letter(rec)
            failure = None if letter is None else failure_of(letter, datetime.now(UTC))
            if failure is None:
                continue
            try:
                await self.store.record_failure(
                    failure,
                    projection=PROJECTION,
                    topic=rec.topic,
                    partition=rec.partition,
                    offset=rec.offset,
                )
            except asyncpg.DataError as exc:  # what the database refuses is logged, never looped back
                log.warning("no failed entry for dead letter %s: %s", rec.position, exc)
        return []
