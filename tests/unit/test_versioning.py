"""Command validation and versioning: what becomes an event and what is rejected, and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ragstream.streams.versioning import Decision, decide

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def cmd(command_id: str, **fields: Any) -> dict[str, Any]:
    base = {"command_id": command_id, "tenant": "t", "document_id": "d", "actor": "a", "event_time": NOW,
            "source": {}, "document_version": None}  # fmt: skip
    base.update(fields)
    return base


def upsert(command_id: str, content: str = "text", **fields: Any) -> dict[str, Any]:
    return cmd(
        command_id, title="", content=content, content_type="text/plain", metadata={}, acl=[], **fields
    )


def run(commands: list[tuple[str, dict[str, Any]]]) -> list[Decision]:
    state: dict[str, Any] | None = None
    out = []
    for name, command in commands:
        decision = decide(name, command, state, position="p/0/1", now=NOW)
        if decision.state is not None:
            state = decision.state
        out.append(decision)
    return out


def test_versions_increase_by_one_per_accepted_change() -> None:
    decisions = run([
        ("UpsertDocument", upsert("c1", "one")),
        ("UpsertDocument", upsert("c2", "two")),
        ("UpdateDocumentAccess", cmd("c3", metadata=None, acl=["group:x"])),
        ("DeleteDocument", cmd("c4")),
    ])  # fmt: skip
    assert [d.event_name for d in decisions] == [
        "DocumentUpserted", "DocumentUpserted", "DocumentAccessUpdated", "DocumentDeleted"]  # fmt: skip
    assert [d.event["version"] for d in decisions] == [1, 2, 3, 4]
    assert decisions[2].event["acl"] == ["group:x"] and decisions[2].event["metadata"] == {}


def test_redelivered_command_is_rejected_as_duplicate() -> None:
    first, again = run([("UpsertDocument", upsert("c1", "one")), ("UpsertDocument", upsert("c1", "changed"))])
    assert first.accepted and not again.accepted
    assert again.event["reason"].startswith("duplicate")


def test_unchanged_content_is_rejected_so_nothing_is_re_embedded() -> None:
    _, same = run([("UpsertDocument", upsert("c1", "one")), ("UpsertDocument", upsert("c2", "one"))])
    assert same.event_name == "CommandRejected" and same.event["reason"].startswith("unchanged")


def test_reindex_makes_an_unchanged_upsert_a_new_version_but_never_a_duplicate_or_stale_one() -> None:
    """A version that failed downstream left the state as if it had succeeded; reindex is how the
    writer has the same content processed again."""
    decisions = run([
        ("UpsertDocument", upsert("c1", "one")),
        ("UpsertDocument", upsert("c2", "one", reindex=True)),
        ("UpsertDocument", upsert("c2", "one", reindex=True)),
        ("UpsertDocument", upsert("c3", "one", reindex=True, document_version=2)),
        ("UpsertDocument", upsert("c4", "one", reindex=False)),
    ])  # fmt: skip
    assert [d.accepted for d in decisions] == [True, True, False, False, False]
    assert decisions[1].event["version"] == 2 and decisions[1].event["previous_version"] == 1
    assert decisions[1].event["content_hash"] == decisions[0].event["content_hash"]
    assert [d.event["reason"].split(":")[0] for d in decisions[2:]] == ["duplicate", "stale", "unchanged"]
    assert "reindex" in decisions[4].event["reason"]


def test_stale_source_version_is_rejected_and_newer_one_becomes_the_version() -> None:
    decisions = run([
        ("UpsertDocument", upsert("c1", "v10", document_version=10)),
        ("UpsertDocument", upsert("c2", "v7", document_version=7)),
        ("UpsertDocument", upsert("c3", "v10 again", document_version=10)),
        ("UpsertDocument", upsert("c4", "v12", document_version=12)),
    ])  # fmt: skip
    assert [d.accepted for d in decisions] == [True, False, False, True]
    assert decisions[1].event["reason"].startswith("stale")
    assert decisions[3].event["version"] == 12 and decisions[3].event["previous_version"] == 10


def test_delete_or_access_change_of_unknown_document_is_rejected() -> None:
    (delete,) = run([("DeleteDocument", cmd("c1"))])
    (access,) = run([("UpdateDocumentAccess", cmd("c1", metadata={"a": "b"}, acl=None))])
    assert delete.event["reason"].startswith("not found") and access.event["reason"].startswith("not found")


def test_upsert_after_delete_recreates_with_a_higher_version() -> None:
    decisions = run(
        [("UpsertDocument", upsert("c1")), ("DeleteDocument", cmd("c2")), ("UpsertDocument", upsert("c3"))]
    )
    assert [d.event_name for d in decisions] == ["DocumentUpserted", "DocumentDeleted", "DocumentUpserted"]
    assert decisions[2].event["version"] == 3


def test_event_ids_are_deterministic_for_redelivery() -> None:
    a = decide("UpsertDocument", upsert("c1"), None, position="x", now=NOW)
    b = decide("UpsertDocument", upsert("c1"), None, position="y", now=NOW)
    assert a.event["event_id"] == b.event["event_id"]
