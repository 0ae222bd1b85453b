"""Avro single-object codec and the schema evolution rules in schemas/avro/EVOLUTION.md."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ragstream.codec import AvroSingleObjectCodec, MalformedRecord, UnknownSchema
from ragstream.codec.avro import read_schema_dir
from ragstream.settings import get_settings

pytestmark = pytest.mark.unit

SCHEMAS = get_settings().codec.schemas_dir


def single_object() -> AvroSingleObjectCodec:
    return AvroSingleObjectCodec(read_schema_dir(SCHEMAS))


def upsert(**overrides: Any) -> dict[str, Any]:
    record = {
        "command_id": "c-1", "tenant": "acme", "document_id": "doc", "actor": "user:ann",
        "event_time": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "content": "hello",
    }  # fmt: skip
    record.update(overrides)
    return record


def v1(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((SCHEMAS / f"{name}.v1.avsc").read_text())
    return raw


def with_added_field(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    evolved = copy.deepcopy(schema)
    evolved["fields"].append(field)
    return evolved


def test_every_contract_round_trips_with_defaults_filled() -> None:
    codec = single_object()
    decoded = codec.decode(codec.encode("UpsertDocument", upsert()))
    assert decoded.name == "UpsertDocument"
    assert decoded.record["content"] == "hello"
    assert decoded.record["content_type"] == "text/plain"
    assert decoded.record["acl"] == [] and decoded.record["document_version"] is None
    assert decoded.record["event_time"] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_encoding_is_the_avro_single_object_format() -> None:
    codec = single_object()
    data = codec.encode("DeleteDocument", {k: v for k, v in upsert().items() if k != "content"})
    assert data[:2] == b"\xc3\x01"
    from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

    expected = bytes.fromhex(
        fingerprint(to_parsing_canonical_form(parse_schema(v1("DeleteDocument"))), "CRC-64-AVRO")
    )
    assert data[2:10] == expected[::-1]  # little-endian, as the spec says


def test_every_schema_file_parses() -> None:
    names = {name for name, _, _ in read_schema_dir(SCHEMAS)}
    assert {"UpsertDocument", "DeleteDocument", "UpdateDocumentAccess", "DocumentUpserted", "DocumentDeleted",
            "DocumentAccessUpdated", "CommandRejected", "DocumentChunked", "DocumentEmbedded"} <= names  # fmt: skip


def test_v2_reader_reads_v1_records_filling_new_fields_with_defaults() -> None:
    old = AvroSingleObjectCodec([("UpsertDocument", 1, v1("UpsertDocument"))])
    new_schema = with_added_field(
        v1("UpsertDocument"), {"name": "language", "type": "string", "default": "en"}
    )
    new = AvroSingleObjectCodec(
        [("UpsertDocument", 1, v1("UpsertDocument")), ("UpsertDocument", 2, new_schema)]
    )
    record = new.decode(old.encode("UpsertDocument", upsert())).record
    assert record["language"] == "en" and record["content"] == "hello"


def test_v1_reader_reads_v2_records_ignoring_the_new_field() -> None:
    new_schema = with_added_field(
        v1("UpsertDocument"), {"name": "language", "type": "string", "default": "en"}
    )
    both = [("UpsertDocument", 1, v1("UpsertDocument")), ("UpsertDocument", 2, new_schema)]
    data = AvroSingleObjectCodec(both).encode("UpsertDocument", upsert(language="de"))
    # A consumer not yet upgraded: it ships the v2 file (schemas are deployed first) but reads as v1.
    record = AvroSingleObjectCodec(both, read_as={"UpsertDocument": 1}).decode(data).record
    assert "language" not in record and record["content"] == "hello"


def test_a_reader_without_the_writer_schema_says_so() -> None:
    new_schema = with_added_field(
        v1("UpsertDocument"), {"name": "language", "type": "string", "default": "en"}
    )
    data = AvroSingleObjectCodec([("UpsertDocument", 2, new_schema)]).encode("UpsertDocument", upsert())
    with pytest.raises(UnknownSchema):
        AvroSingleObjectCodec([("UpsertDocument", 1, v1("UpsertDocument"))]).decode(data)


def test_removing_a_field_without_default_breaks_old_records_and_is_caught() -> None:
    broken = copy.deepcopy(v1("UpsertDocument"))
    broken["fields"].append({"name": "required_new", "type": "string"})  # no default: forbidden by the rules
    old = AvroSingleObjectCodec([("UpsertDocument", 1, v1("UpsertDocument"))])
    new = AvroSingleObjectCodec([("UpsertDocument", 1, v1("UpsertDocument")), ("UpsertDocument", 2, broken)])
    with pytest.raises(MalformedRecord):
        new.decode(old.encode("UpsertDocument", upsert()))


def test_unknown_fingerprint_and_garbage_are_clear_errors() -> None:
    codec = single_object()
    with pytest.raises(UnknownSchema, match="fingerprint"):
        codec.decode(b"\xc3\x01" + b"\x00" * 8 + b"\x02")
    with pytest.raises(MalformedRecord, match="magic"):
        codec.decode(b'{"json": true}')
    good = codec.encode("UpsertDocument", upsert())
    with pytest.raises(MalformedRecord):
        codec.decode(good[:14])


def test_encoding_a_record_that_breaks_its_schema_is_refused() -> None:
    codec = single_object()
    with pytest.raises(MalformedRecord):
        codec.encode("UpsertDocument", upsert(content=None))
    with pytest.raises(UnknownSchema):
        codec.encode("NoSuchRecord", {})
