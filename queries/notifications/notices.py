"""What is worth telling a tenant, derived from the log and the query nodes' jobs: pure functions.

A notice has a deterministic id (the webhook's idempotency key): the same log record always yields
the same notice, so a redelivered record or a retried delivery never looks like a new event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ragstream.queries.registry.dead_letters import read_dead_letter
from ragstream.records import LogRecord


class Kind(StrEnum):
    # Every read model holds the version (an upsert or an access change).
    SEARCHABLE = "document.searchable"
    # Every read model holds the delete: the document is no longer found.
    DELETED = "document.deleted"
    REJECTED = "document.rejected"
    DEAD_LETTERED = "document.dead_lettered"
    REPLAY_FINISHED = "replay.finished"
    REPLAY_FAILED = "replay.failed"
    REBUILD_FINISHED = "rebuild.finished"
    REBUILD_FAILED = "rebuild.failed"
    CONNECTOR_FAILED = "connector.failed"
    # Sent on request (`POST /v1/webhooks/{id}/ping`), to every subscription whatever it follows.
    PING = "webhook.ping"


SUBSCRIBABLE = tuple(k.value for k in Kind if k is not Kind.PING)
ALL = "*"


@dataclass(frozen=True)
class Notice:
    id: str
    kind: Kind
    tenant: str
    data: Mapping[str, Any]
    occurred_at: datetime
    # The ordering key: one document's notices are delivered in order; "" for notices of no document.
    document_id: str = ""
    version: int | None = None
    # Delivered only once every read model holds `version` (searchable, deleted).
    waits_for_read_models: bool = False
    # The version will never reach the read models (a dead letter on the way there): a notice that
    # waits for it is given up, so the document's later notices are not held behind it.
    ends_wait: bool = False

    def body(self) -> dict[str, Any]:
        """The JSON a webhook receives (the Standard Webhooks shape: type, timestamp, data)."""
        return {
            "id": self.id,
            "type": self.kind.value,
            "timestamp": self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "tenant": self.tenant,
            "data": dict(self.data),
        }


def notice_id(kind: Kind, source: str) -> str:
    return "evt_" + uuid.uuid5(uuid.NAMESPACE_URL, f"ragstream:notice:{kind.value}:{source}").hex


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.now(UTC)


def from_event(rec: LogRecord) -> Notice | None:
    """The notice an events-topic record makes, if any."""
    r = rec.record
    common = {
        "document_id": r.get("document_id"),
        "command_id": r.get("command_id"),
        "actor": r.get("actor"),
        "event_time": _time(r.get("event_time")).isoformat(),
    }
    if rec.name in ("DocumentUpserted", "DocumentAccessUpdated", "DocumentDeleted"):
        kind = Kind.DELETED if rec.name == "DocumentDeleted" else Kind.SEARCHABLE
        data = {**common, "version": int(r["version"])}
        if kind is Kind.SEARCHABLE:
            data["change"] = "upserted" if rec.name == "DocumentUpserted" else "access_updated"
        return Notice(
            notice_id(kind, str(r["event_id"])), kind, r["tenant"], data, _time(r.get("recorded_time")),
            document_id=r["document_id"], version=int(r["version"]), waits_for_read_models=True,
        )  # fmt: skip
    if rec.name == "CommandRejected":
        data = {**common, "command_type": r.get("command_type"), "reason": r.get("reason"),
                "current_version": r.get("current_version")}  # fmt: skip
        return Notice(
            notice_id(Kind.REJECTED, str(r["event_id"])), Kind.REJECTED, r["tenant"], data,
            _time(r.get("recorded_time")), document_id=r["document_id"],
        )  # fmt: skip
    return None


def from_dead_letter(rec: LogRecord) -> Notice | None:
    """The notice a dead-letter record makes: for the tenant and document of its key (or of its
    record when the key is unusable); None when neither names a valid tenant."""
    letter = read_dead_letter(rec)
    if letter is None:
        return None
    data = {
        "document_id": letter.document_id,
        "command_id": letter.command_id,
        "version": letter.version,
        "record": letter.record or None,
        "processor": letter.processor,
        "error_type": letter.error_type,
        "reason": letter.reason,
        "source": letter.source,
    }
    return Notice(
        notice_id(Kind.DEAD_LETTERED, f"{letter.source}:{letter.processor}"), Kind.DEAD_LETTERED,
        letter.tenant, data, datetime.now(UTC), document_id=letter.document_id, version=letter.version,
        ends_wait=letter.blocks_indexing,
    )  # fmt: skip


def for_job(
    *, job_id: str, kind: str, failed: bool, tenant: str, details: Mapping[str, Any], finished_at: datetime
) -> Notice:
    """A replay or rebuild of a query node that finished or failed, for the tenant that started it."""
    chosen = Kind(f"{kind}.{'failed' if failed else 'finished'}")
    return Notice(notice_id(chosen, job_id), chosen, tenant, {"job_id": job_id, **details}, finished_at)


def for_connector(*, tenant: str, connector: str, state: str, trace: str, since: datetime) -> Notice:
    """A CDC connector (or one of its tasks) that Kafka Connect reports FAILED."""
    data = {"connector": connector, "state": state, "trace": trace[:2000]}
    return Notice(
        notice_id(Kind.CONNECTOR_FAILED, f"{connector}:{since.isoformat()}"), Kind.CONNECTOR_FAILED, tenant,
        data, since,
    )  # fmt: skip


def ping(tenant: str, subscription_id: str) -> Notice:
    now = datetime.now(UTC)
    return Notice(
        notice_id(Kind.PING, f"{subscription_id}:{now.isoformat()}"), Kind.PING, tenant,
        {"subscription_id": subscription_id}, now,
    )  # fmt: skip
