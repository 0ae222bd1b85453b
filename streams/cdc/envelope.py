"""The Debezium change-event envelope: before/after rows, the operation and the source position.

A connector writes it as Avro in the Confluent wire format (zero byte, schema id; Apicurio's
AvroConverter, connectors/debezium-postgres.json) or as JSON (Kafka's JsonConverter, what connectors
applied before Avro write); `read_event` tells them apart by the first byte, so a topic may hold both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_event(value: bytes | None, decode_avro: Callable[[bytes], Any]) -> ChangeEvent | None:
    """The change event in a record's value, None for a tombstone. `decode_avro` reads a Confluent
    wire-format record with its writer schema (ragstream.codec's `decode_any`, through the registry)."""
    if not value:
        return None
    if value[0] == 0:
        return parse_event(_as_json_converter_writes(decode_avro(value)))
    return parse_event(value)


def _as_json_converter_writes(value: Any) -> Any:
    """Avro's logical types as Kafka's JsonConverter writes the same Connect values (epoch
    milliseconds, days, milliseconds of the day), so a row maps the same whichever converter wrote
    it; decimals as their exact text. Binary columns stay bytes (JSON has them in base64)."""
    if isinstance(value, dict):
        return {k: _as_json_converter_writes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json_converter_writes(v) for v in value]
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, date):
        return (value - _EPOCH.date()).days
    if isinstance(value, time):
        return (value.hour * 3600 + value.minute * 60 + value.second) * 1000 + value.microsecond // 1000
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value
