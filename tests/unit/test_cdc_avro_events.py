"""Debezium change events in Avro (Confluent wire format) read into the same envelope as JSON ones.

The writer schema is resolved here by a stand-in for the registry (fastavro on the schema the test
wrote with); tests/integration/test_cdc.py reads real Debezium records through the registry.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from ragstream.contracts import ContentType, UpsertDocument
from ragstream.streams.cdc import UnconvertibleEvent, to_commands
from ragstream.streams.cdc.envelope import read_event
from ragstream.streams.cdc.mapping import parse_mapping

pytestmark = pytest.mark.unit

SCHEMA_ID = 42


def _nullable(t: Any) -> list[Any]:
    return ["null", t]


# The shape Apicurio's AvroConverter gives a Debezium PostgreSQL envelope (fields trimmed), with
# the logical types Connect's Timestamp, Date and Decimal carry.
ROW = {
    "type": "record", "name": "Value", "namespace": "rs.cdc.public.articles",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "title", "type": "string"},
        {"name": "body", "type": _nullable("string"), "default": None},
        {"name": "file", "type": _nullable("bytes"), "default": None},
        {"name": "published", "type": _nullable({"type": "long", "logicalType": "timestamp-millis"}), "default": None},
        {"name": "day", "type": _nullable({"type": "int", "logicalType": "date"}), "default": None},
        {"name": "price", "type": _nullable(
            {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}), "default": None},
    ],
}  # fmt: skip
ENVELOPE = fastavro.parse_schema({
    "type": "record", "name": "Envelope", "namespace": "rs.cdc.public.articles",
    "fields": [
        {"name": "before", "type": _nullable(ROW), "default": None},
        {"name": "after", "type": _nullable("rs.cdc.public.articles.Value"), "default": None},
        {"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql",
         "fields": [{"name": "ts_ms", "type": "long"}, {"name": "snapshot", "type": _nullable("string")},
                    {"name": "lsn", "type": _nullable("long")}, {"name": "txId", "type": _nullable("long")}]}},
        {"name": "op", "type": "string"},
        {"name": "ts_ms", "type": _nullable("long"), "default": None},
    ],
})  # fmt: skip


def framed(record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00" + SCHEMA_ID.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, ENVELOPE, record)
    return out.getvalue()


def registry_stand_in(data: bytes) -> Any:
    assert int.from_bytes(data[1:5], "big") == SCHEMA_ID
    return fastavro.schemaless_reader(io.BytesIO(data[5:]), ENVELOPE, None)


def change(after: dict[str, Any]) -> dict[str, Any]:
    source = {"ts_ms": 1795874465356, "snapshot": "false", "lsn": 29433648, "txId": 869}
    return {"before": None, "after": after, "source": source, "op": "u", "ts_ms": 1795874465400}


AFTER = {"id": 7, "title": "Hello", "body": "Some body text.", "file": None,
         "published": datetime(2024, 5, 1, 12, 30, tzinfo=UTC), "day": date(2024, 5, 1),
         "price": Decimal("12.50")}  # fmt: skip
# What Kafka's JsonConverter writes for the same Connect values.
AFTER_JSON = {**AFTER, "published": 1714566600000, "day": 19844, "price": "12.50"}


def mapping(**document: Any) -> Any:
    spec: dict[str, Any] = {"id": "id", "title": "title", "content": "body",
                            "metadata": {"published": "published", "day": "day", "price": "price"}}  # fmt: skip
    spec.update(document)
    return parse_mapping({"name": "articles", "table": "public.articles", "document": spec})


def test_avro_and_json_of_one_change_make_the_same_command() -> None:
    from_avro = read_event(framed(change(AFTER)), registry_stand_in)
    from_json = read_event(json.dumps(change(AFTER_JSON)).encode(), registry_stand_in)
    assert from_avro == from_json
    assert from_avro is not None and from_avro.after is not None
    # Logical types as the JSON converter writes them: epoch milliseconds, days, exact decimal text.
    assert (from_avro.after["published"], from_avro.after["day"], from_avro.after["price"]) == (
        1714566600000, 19844, "12.50",
    )  # fmt: skip
    commands = to_commands(from_avro, mapping(), position="t/0/5")
    assert commands == to_commands(from_json, mapping(), position="t/0/5")
    (upsert,) = commands
    assert isinstance(upsert, UpsertDocument)
    assert upsert.metadata == {"published": "1714566600000", "day": "19844", "price": "12.50"}


def test_a_bytea_column_arrives_as_bytes_not_base64() -> None:
    pdf = b"%PDF-1.4 \x00\xff binary"
    event = read_event(framed(change({**AFTER, "file": pdf})), registry_stand_in)
    (upsert,) = to_commands(event, mapping(content="file", content_type={"constant": "application/pdf"}))
    assert isinstance(upsert, UpsertDocument) and upsert.content_type is ContentType.PDF
    assert upsert.content_bytes == pdf


def test_a_nullable_column_holding_null_is_none() -> None:
    event = read_event(framed(change({**AFTER, "body": None})), registry_stand_in)
    assert event is not None and event.after is not None and event.after["body"] is None
    # A row without content deletes its document, as from JSON.
    assert [type(c).__name__ for c in to_commands(event, mapping())] == ["DeleteDocument"]


def test_tombstones_and_what_is_neither_avro_nor_json() -> None:
    assert read_event(None, registry_stand_in) is None
    assert read_event(b"", registry_stand_in) is None
    with pytest.raises(UnconvertibleEvent, match="not JSON"):
        read_event(b"\xc3\x01 not a change event", registry_stand_in)
