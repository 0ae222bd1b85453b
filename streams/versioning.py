"""Command validation and versioning: the pure decision behind the `validate_commands` processor.

State per document (kept in a faust table, changelog-backed) decides whether a command becomes an
event. Stale, duplicate and unchanged commands are rejected with a reason, never applied.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

COMMAND_NAMES = frozenset({"UpsertDocument", "DeleteDocument", "UpdateDocumentAccess"})
# Enough to catch a redelivered command; older ids are covered by version checks.
RECENT_COMMANDS = 32


@dataclass(frozen=True)
class Decision:
    event_name: str
    event: dict[str, Any]
    # New table state, or None to leave it unchanged (rejections).
    state: dict[str, Any] | None

    @property
    def accepted(self) -> bool:
        return self.event_name != "CommandRejected"


def content_hash(title: str, content: str, content_type: str) -> str:
    digest = hashlib.sha256()
    for part in (content_type, title, content):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def event_id(command_id: str) -> str:
    """Deterministic, so a redelivered command yields the same event id (audit dedupes on it)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ragstream:event:{command_id}"))


def _base(cmd: Mapping[str, Any], *, position: str, now: datetime) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "command_id": cmd["command_id"],
        "tenant": cmd["tenant"],
        "document_id": cmd["document_id"],
        "actor": cmd["actor"],
        "event_time": cmd["event_time"],
        "source": dict(cmd.get("source") or {}),
        "event_id": event_id(cmd["command_id"]),
        "recorded_time": now,
        "command_position": position,
    }


def rejected(
    name: str, cmd: Mapping[str, Any], state: Mapping[str, Any] | None, reason: str, *, position: str,
    now: datetime,
) -> Decision:  # fmt: skip
    """The command refused with `reason`; the document's state stays as it was."""
    current = int((state or {}).get("version", 0))
    event = dict(_base(cmd, position=position, now=now), command_type=name, reason=reason)
    event["current_version"] = current or None
    return Decision("CommandRejected", event, None)


def decide(
    name: str, cmd: Mapping[str, Any], state: Mapping[str, Any] | None, *, position: str, now: datetime
) -> Decision:
    state = state or {}
    current = int(state.get("version", 0))
    alive = bool(state) and not state.get("deleted", False)
    recent = list(state.get("recent_commands", []))
    base = _base(cmd, position=position, now=now)

    def reject(reason: str) -> Decision:
        return rejected(name, cmd, state, reason, position=position, now=now)

    if cmd["command_id"] in recent:
        return reject("duplicate: this command was already applied")
    requested = cmd.get("document_version")
    if requested is not None and requested <= current:
        return reject(f"stale: version {requested} is not above the current version {current}")
    version = requested if requested is not None else current + 1
    recent = [*recent, cmd["command_id"]][-RECENT_COMMANDS:]

    if name == "UpsertDocument":
        digest = content_hash(cmd["title"], cmd["content"], cmd["content_type"])
        metadata, acl = dict(cmd["metadata"]), list(cmd["acl"])
        if (
            alive
            and not cmd.get("reindex", False)
            and state.get("content_hash") == digest
            and state.get("metadata") == metadata
            and state.get("acl") == acl
        ):
            # The state cannot tell a version that failed downstream from one that is searchable,
            # so the writer is told how to have it processed again.
            return reject(
                "unchanged: content, metadata and ACL equal the current version "
                "(send it with reindex to process it again)"
            )
        event = dict(base, schema_version=2, version=version, previous_version=current or None,
                     title=cmd["title"], content=cmd["content"], content_type=cmd["content_type"],
                     content_hash=digest, metadata=metadata, acl=acl,
                     # A binary document's provenance, set by the extraction stage.
                     original_media_type=cmd.get("original_media_type") or "", blob=cmd.get("blob"),
                     locations=list(cmd.get("locations") or []))  # fmt: skip
        new_state = {"version": version, "deleted": False, "content_hash": digest, "content_version": version,
                     "metadata": metadata, "acl": acl, "recent_commands": recent}  # fmt: skip
        return Decision("DocumentUpserted", event, new_state)

    if not alive:
        return reject("not found: the document does not exist or was deleted")

    if name == "DeleteDocument":
        new_state = {"version": version, "deleted": True, "recent_commands": recent}
        return Decision("DocumentDeleted", dict(base, version=version), new_state)

    if name == "UpdateDocumentAccess":
        metadata = (
            dict(cmd["metadata"]) if cmd.get("metadata") is not None else dict(state.get("metadata", {}))
        )
        acl = list(cmd["acl"]) if cmd.get("acl") is not None else list(state.get("acl", []))
        if metadata == state.get("metadata") and acl == state.get("acl"):
            return reject("unchanged: metadata and ACL equal the current version")
        new_state = dict(state, version=version, metadata=metadata, acl=acl, recent_commands=recent)
        return Decision(
            "DocumentAccessUpdated", dict(base, version=version, metadata=metadata, acl=acl), new_state
        )

    return reject(f"unknown command type {name}")
