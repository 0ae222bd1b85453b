"""The Debezium change-event envelope: before/after rows, the operation and the source position."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ragstream.streams.cdc.exceptions import UnconvertibleEvent

# c: insert, u: update, d: delete, r: read during the initial snapshot. Truncates (t) are skipped by the
# connector config and logical messages (m) are not captured, so anything else is a contract breach.
OPERATIONS = frozenset({"c", "u", "d", "r"})


@dataclass(frozen=True)
class ChangeEvent:
    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: dict[str, Any] = field(default_factory=dict)
    ts_ms: int | None = None

    def event_time(self) -> datetime:
        """The commit time in the source database, else when Debezium read the change."""
        ms = self.source.get("ts_ms", self.ts_ms)
        if isinstance(ms, int | float) and not isinstance(ms, bool):
            return datetime.fromtimestamp(ms / 1000, UTC)
        return datetime.now(UTC)


def parse_event(value: Any) -> ChangeEvent | None:
    """Parses a change event from JSON bytes/text or a decoded dict; None for a tombstone.

    Accepts both JSON converter flavours: the bare envelope (schemas disabled) and
    {"schema": ..., "payload": envelope} (schemas enabled).
    """
    if isinstance(value, ChangeEvent):
        return value
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | str):
        if not value:
            return None
        try:
            value = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnconvertibleEvent(f"change event is not JSON: {exc}") from exc
    if isinstance(value, Mapping) and "payload" in value and "schema" in value:
        value = value["payload"]
        if value is None:
            return None
    if not isinstance(value, Mapping):
        raise UnconvertibleEvent(f"change event must be a JSON object, not {type(value).__name__}")
    op = value.get("op")
    if op not in OPERATIONS:
        raise UnconvertibleEvent(
            f"unsupported change event operation {op!r}; expected one of {', '.join(sorted(OPERATIONS))}"
        )
    before, after, source = value.get("before"), value.get("after"), value.get("source") or {}
    for name, row in (("before", before), ("after", after), ("source", source)):
        if row is not None and not isinstance(row, Mapping):
            raise UnconvertibleEvent(
                f"change event field {name!r} must be an object, not {type(row).__name__}"
            )
    ts_ms = value.get("ts_ms")
    return ChangeEvent(
        op=op,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
        source=dict(source),
        ts_ms=ts_ms if isinstance(ts_ms, int) and not isinstance(ts_ms, bool) else None,
    )
