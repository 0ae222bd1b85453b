"""Failed commands in the audit trail, against the real PostgreSQL (no Kafka): a dead letter that
keeps a version out of the read models becomes the command's `failed` entry, once however often it
is delivered or dead-lettered again; other dead letters make none; a table from before `failed`
existed is widened at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from ragstream.postgres import connect_pool
from ragstream.queries.projections import FailureProjection
from ragstream.queries.registry.store import SCHEMA as REGISTRY_SCHEMA
from ragstream.queries.registry.store import RegistryStore
from ragstream.records import LogRecord
from ragstream.settings import PostgresSettings, Settings
from tests.conftest import unique_tag

pytestmark = pytest.mark.integration


@pytest.fixture
async def projection(local_stack: Settings) -> AsyncIterator[FailureProjection]:
    postgres = PostgresSettings(**{**local_stack.postgres.model_dump(), "schema_name": unique_tag("rf")})
    settings = local_stack.model_copy(update={"postgres": postgres})
    failures = FailureProjection(settings)
    await failures.open()
    try:
        yield failures
    finally:
        await failures.store.pool.execute(f"DROP SCHEMA {postgres.schema_name} CASCADE")
        await failures.close()


def letter(offset: int, processor: str, *, source_offset: int = 7, **record: object) -> LogRecord:
    headers = {
        "processor": processor.encode(), "error_type": b"RecordTooLarge", "error": b"over the limit",
        "source_topic": b"t.document-events", "source_partition": b"2",
        "source_offset": str(source_offset).encode(),
    }  # fmt: skip
    name = "DocumentUpserted" if record else ""
    return LogRecord(name, record, "t.dead-letters", 0, offset, key=b"acme/big", headers=headers)


UPSERTED = {"tenant": "acme", "document_id": "big", "command_id": "c-1", "version": 3, "actor": "bob\x00"}


async def accept(store: RegistryStore, command_id: str, version: int) -> None:
    now = datetime.now(UTC)
    event = {
        "tenant": "acme", "document_id": "big", "command_id": command_id, "event_id": f"e-{command_id}",
        "version": version, "title": "", "content_type": "text/plain", "content_hash": "h", "metadata": {},
        "acl": [], "actor": "bob", "source": {}, "event_time": now, "recorded_time": now,
    }  # fmt: skip
    await store.apply_event(
        "DocumentUpserted", event, projection="registry", topic="ev", partition=0, offset=version
    )


async def test_a_dead_letter_on_the_way_to_the_indexes_is_the_commands_failed_entry(
    projection: FailureProjection,
) -> None:
    store = projection.store
    await projection.apply([letter(1, "chunk_documents", **UPSERTED)])
    await accept(store, "c-1", 3)  # the acceptance may land after the failure: another projection
    outcome = await store.command_outcome("acme", "big", "c-1")
    assert outcome is not None and (outcome.outcome, outcome.version, outcome.event_type) == (
        "failed", 3, "DocumentUpserted")  # fmt: skip
    assert outcome.reason == "dead-lettered by chunk_documents: RecordTooLarge: over the limit"
    assert outcome.actor == "bob\\x00"  # PostgreSQL text holds no NUL
    # Delivered again, or the same refusal dead-lettered again after a redelivery: no second entry.
    await projection.apply([letter(1, "chunk_documents", **UPSERTED)])
    await projection.apply([letter(2, "chunk_documents", **UPSERTED)])
    assert [e.outcome for e in await store.history("acme", "big")] == ["failed", "accepted"]


async def test_only_refusals_that_keep_a_version_out_of_the_read_models_are_failures(
    projection: FailureProjection,
) -> None:
    await projection.apply([
        letter(1, "notify_events", **UPSERTED),  # a webhook's trouble, not the command's
        letter(2, "record_registry", source_offset=8, **UPSERTED),
        letter(3, "validate_commands", source_offset=9),  # bytes that never decoded: no command id
    ])  # fmt: skip
    [entry] = await projection.store.history("acme", "big")
    assert (entry.outcome, entry.command_id, entry.event_type, entry.version) == (
        "failed", "", "undecodable record", None)  # fmt: skip
    assert entry.reason.startswith("dead-lettered by validate_commands")


async def test_an_audit_log_from_before_failures_is_widened_at_start_up(local_stack: Settings) -> None:
    postgres = PostgresSettings(**{**local_stack.postgres.model_dump(), "schema_name": unique_tag("rf")})
    old = REGISTRY_SCHEMA.replace("CHECK (outcome IN ('accepted', 'rejected', 'failed'))",
                                  "CHECK (outcome IN ('accepted', 'rejected'))")  # fmt: skip
    old = old[: old.index("DO $$")]  # the widening came with 'failed'
    pool = await connect_pool(postgres, schemas=(old,))
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(
                f"INSERT INTO {postgres.schema_name}.audit_log (tenant, document_id, command_id, event_id,"
                " event_type, outcome, actor, event_time, recorded_time) VALUES"
                " ('acme','d','c','e','DocumentUpserted','failed','a',now(),now())"
            )
        store = await RegistryStore.connect(postgres)  # applies the current script
        await store.close()
        await pool.execute(
            f"INSERT INTO {postgres.schema_name}.audit_log (tenant, document_id, command_id, event_id,"
            " event_type, outcome, actor, event_time, recorded_time) VALUES"
            " ('acme','d','c','e','DocumentUpserted','failed','a',now(),now())"
        )
        with pytest.raises(asyncpg.CheckViolationError):  # still a check, not none
            await pool.execute(
                f"UPDATE {postgres.schema_name}.audit_log SET outcome='lost' WHERE event_id='e'"
            )
    finally:
        await pool.execute(f"DROP SCHEMA {postgres.schema_name} CASCADE")
        await pool.close()
