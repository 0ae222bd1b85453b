"""What a writer waiting on its command is told (queries/outcomes.py), over stand-ins of the query
service's read-model checks and the registry's audit trail."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from ragstream.queries.outcomes import OutcomeWaiter
from ragstream.queries.registry.store import AuditEntry

pytestmark = pytest.mark.unit


def entry(outcome: str, version: int | None, reason: str = "") -> AuditEntry:
    now = datetime.now(UTC)
    return AuditEntry("c-1", "DocumentUpserted", outcome, reason, version, "bob", {}, now, now, "")


class Registry:
    """The audit trail as the waiter reads it: what it says now, and what it will say later."""

    def __init__(self, *answers: AuditEntry | None) -> None:
        self.answers = list(answers)

    async def command_outcome(self, tenant: str, document_id: str, command_id: str) -> AuditEntry | None:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class Service:
    def __init__(self, held: int) -> None:
        self.held = held

    async def holds(self, tenant: str, document_id: str, version: int) -> bool:
        return self.held >= version

    async def wait_applied(self, positions: Any, timeout: float) -> dict[int, Any]:
        return {}


class StuckService(Service):
    """Read models that never reach the command's position: nothing after it in its partition."""

    async def wait_applied(self, positions: Any, timeout: float) -> dict[int, Any]:
        await asyncio.sleep(timeout)
        return {p: (o - 1, o) for p, o in positions.items()}


async def wait(service: Service, registry: Registry, timeout_s: float = 2.0, positions: Any = None) -> Any:
    waiter = OutcomeWaiter(service, registry, poll_s=0.01)  # type: ignore[arg-type]
    return await waiter.wait("acme", "big", "c-1", positions, timeout_s)


async def test_a_command_dead_lettered_on_the_way_is_told_as_failed_with_the_reason() -> None:
    reason = "dead-lettered by chunk_documents: RecordTooLarge: too large"
    told = await wait(Service(held=0), Registry(entry("failed", 3, reason)))
    assert (told.outcome, told.version, told.reason) == ("failed", 3, reason)


async def test_a_failure_recorded_while_waiting_ends_the_wait() -> None:
    # Accepted first; the dead letter's entry comes from another projection a moment later.
    told = await wait(
        Service(held=2), Registry(entry("accepted", 3), entry("accepted", 3), entry("failed", 3))
    )
    assert told.outcome == "failed"


@pytest.mark.parametrize("positions", [None, {3: 7}], ids=["position-from-the-audit-trail", "token"])
async def test_a_failure_ends_the_wait_for_a_position_the_read_models_will_never_reach(
    positions: Any,
) -> None:
    # Dead-lettered on its way and alone in its partition: no later record moves the read models
    # past its position. The failure, recorded a moment after the writer asked, still answers it.
    accepted = AuditEntry(**{**vars(entry("accepted", 3)), "command_position": "t.document-commands/3/7"})
    started = time.monotonic()
    told = await wait(StuckService(held=2), Registry(accepted, accepted, entry("failed", 3)), 5.0, positions)
    assert told.outcome == "failed" and time.monotonic() - started < 2.0


async def test_a_failure_that_left_this_nodes_read_models_holding_the_version_is_searchable() -> None:
    # A server index's refusal, on a node that searches its own read models only.
    told = await wait(
        Service(held=3), Registry(entry("failed", 3, "dead-lettered by project_shared_indexes"))
    )
    assert (told.outcome, told.version) == ("searchable", 3)


async def test_a_failure_before_any_version_was_decided_is_failed_whatever_the_node_holds() -> None:
    # Dead-lettered by the validate stage: no version of this command exists.
    told = await wait(Service(held=5), Registry(entry("failed", None, "dead-lettered by validate_commands")))
    assert told.outcome == "failed"


async def test_an_accepted_command_that_is_neither_held_nor_failed_times_out() -> None:
    told = await wait(Service(held=2), Registry(entry("accepted", 3)), timeout_s=0.2)
    assert told.outcome == "timeout"


def test_a_dead_letter_becomes_a_failed_entry_only_when_it_blocks_indexing() -> None:
    from ragstream.queries.projections.failures import MAX_TEXT, failure_of
    from ragstream.queries.registry.dead_letters import DocumentDeadLetter

    now = datetime.now(UTC)
    letter = DocumentDeadLetter(
        tenant="acme", document_id="big\x00", command_id="c-1", version=3, own_version=True,
        record="DocumentChunked",
        actor="bob", processor="embed_bulk_chunks", error_type="RecordTooLarge", reason="x" * 5000,
        source="t.document-chunks-bulk/1/40",
    )  # fmt: skip
    failure = failure_of(letter, now)
    assert failure is not None
    assert (failure.document_id, failure.command_id, failure.version) == ("big\\x00", "c-1", 3)
    assert failure.event_id == "dead-letter:t.document-chunks-bulk/1/40:embed_bulk_chunks"
    assert failure.reason.startswith("dead-lettered by embed_bulk_chunks: RecordTooLarge: xxx")
    assert len(failure.reason) == MAX_TEXT
    # Escaping a NUL lengthens the text; the entry still keeps to the bound.
    nuls = failure_of(DocumentDeadLetter(**{**vars(letter), "actor": "\x00" * 5000}), now)
    assert nuls is not None and nuls.actor.startswith("\\x00") and len(nuls.actor) == MAX_TEXT
    assert failure_of(DocumentDeadLetter(**{**vars(letter), "processor": "notify_events"}), now) is None
    assert failure_of(DocumentDeadLetter(**{**vars(letter), "record": "CommandRejected"}), now) is None


def test_a_dead_lettered_command_fails_without_the_version_it_expected() -> None:
    from ragstream.queries.projections.failures import failure_of
    from ragstream.queries.registry.dead_letters import read_dead_letter
    from ragstream.records import LogRecord

    # An upsert that expected to replace version 3, dead-lettered by the validate stage: version 3
    # is held (it is the current one), yet this command was never applied.
    headers = {"processor": b"validate_commands", "error": b"boom", "source_topic": b"t.document-commands",
               "source_partition": b"0", "source_offset": b"4"}  # fmt: skip
    record = {"tenant": "acme", "document_id": "d", "command_id": "c-9", "document_version": 3}
    letter = read_dead_letter(LogRecord("UpsertDocument", record, "t.dead-letters", 0, 1, headers=headers))
    assert letter is not None and letter.version == 3  # what the webhook notice reports, as before
    failure = failure_of(letter, datetime.now(UTC))
    assert failure is not None and failure.version is None
