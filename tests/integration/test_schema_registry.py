"""The stack's schema registry and the Confluent wire-format codec, against the running registry:
the framing, both encodings read by one consumer, and BACKWARD compatibility enforced at registration."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ragstream.codec import (
    AvroSingleObjectCodec,
    ConfluentAvroCodec,
    SchemaRejected,
    load_codec,
    registry_client,
)
from ragstream.codec.avro import read_schema_dir
from ragstream.contracts import UpsertDocument, encode_command
from ragstream.settings import CodecSettings, Settings
from tests.conftest import unique_tag

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(local_stack: Settings) -> str:
    return local_stack.codec.registry_url


def command() -> UpsertDocument:
    return UpsertDocument(
        tenant="acme", document_id="faq/1", actor="user:ann", title="FAQ", content="Refunds."
    )


def test_records_carry_the_registry_id_of_their_schema_under_the_record_name_subject(registry: str) -> None:
    codec = load_codec(CodecSettings(registry_url=registry))
    data = encode_command(codec, command()).value
    assert data[0] == 0  # Confluent's magic byte, then the 4-byte schema id
    schema_id = int.from_bytes(data[1:5], "big")
    versions = httpx.get(f"{registry}/schemas/ids/{schema_id}/versions", timeout=10).json()
    assert {"subject": "io.ragstream.commands.UpsertDocument", "version": versions[0]["version"]} in versions
    decoded = codec.decode(data)
    assert decoded.name == "UpsertDocument" and decoded.record["content"] == "Refunds."


def test_a_consumer_reads_both_encodings_so_a_topic_can_hold_both_during_the_switch(registry: str) -> None:
    before = load_codec(CodecSettings(registry_url=registry, wire_format="single-object"))
    after = load_codec(CodecSettings(registry_url=registry))
    same = command()
    old, new = (encode_command(c, same).value for c in (before, after))
    assert old[:2] == b"\xc3\x01" and new[:1] == b"\x00"
    for reader in (before, after):  # a rolled-back consumer reads the new records as well
        assert reader.decode(old).record == reader.decode(new).record


def _schemas(namespace: str, *extra: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    schema = {
        "type": "record",
        "name": "Note",
        "namespace": namespace,
        "fields": [{"name": "text", "type": "string"}, *extra],
    }
    return [("Note", 1 + len(extra), schema)]


def test_an_incompatible_schema_is_refused_at_registration_and_nothing_is_written(registry: str) -> None:
    namespace = f"io.ragstream.test.{unique_tag()}"
    subject = f"{namespace}.Note"
    v1 = ConfluentAvroCodec(_schemas(namespace), registry_client(registry))
    written = v1.encode("Note", {"text": "hello"})

    # A field without a default: a reader of this version could not read what v1 wrote.
    breaking = ConfluentAvroCodec(
        _schemas(namespace, {"name": "lang", "type": "string"}), registry_client(registry)
    )
    with pytest.raises(SchemaRejected, match="incompatible"):
        breaking.encode("Note", {"text": "hi", "lang": "de"})
    assert httpx.get(f"{registry}/subjects/{subject}/versions", timeout=10).json() == [1]

    # The same field with a default is a compatible change: it registers, and reads v1's records.
    compatible = ConfluentAvroCodec(
        _schemas(namespace, {"name": "lang", "type": "string", "default": "en"}), registry_client(registry)
    )
    compatible.encode("Note", {"text": "hi", "lang": "de"})
    assert httpx.get(f"{registry}/subjects/{subject}/versions", timeout=10).json() == [1, 2]
    assert compatible.decode(written).record == {"text": "hello", "lang": "en"}


def test_the_registry_answers_like_confluents(registry: str) -> None:
    namespace = f"io.ragstream.test.{unique_tag()}"
    subject = f"{namespace}.Note"
    schema = json.dumps(_schemas(namespace)[0][2])
    body = {"schema": schema}
    first = httpx.post(f"{registry}/subjects/{subject}/versions", json=body, timeout=10).json()
    again = httpx.post(f"{registry}/subjects/{subject}/versions", json=body, timeout=10).json()
    assert first["id"] == again["id"] and again["version"] == 1  # registering twice changes nothing

    breaking = json.dumps(_schemas(namespace, {"name": "n", "type": "int"})[0][2])
    check = httpx.post(f"{registry}/compatibility/subjects/{subject}/versions/latest?verbose=true",
                       json={"schema": breaking}, timeout=10).json()  # fmt: skip
    assert check["is_compatible"] is False and "n" in check["messages"][0]
    refused = httpx.post(f"{registry}/subjects/{subject}/versions", json={"schema": breaking}, timeout=10)
    assert refused.status_code == 409 and refused.json()["error_code"] == 409

    assert (
        httpx.put(f"{registry}/config/{subject}", json={"compatibility": "NONE"}, timeout=10).status_code
        == 200
    )
    assert (
        httpx.post(f"{registry}/subjects/{subject}/versions", json={"schema": breaking}, timeout=10).json()[
            "version"
        ]
        == 2
    )

    unknown = httpx.get(f"{registry}/subjects/{subject}-nope/versions", timeout=10)
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, 40401)
    missing = httpx.get(f"{registry}/schemas/ids/999999999", timeout=10)
    assert (missing.status_code, missing.json()["error_code"]) == (404, 40403)
    invalid = httpx.post(f"{registry}/subjects/{subject}/versions", json={"schema": "{"}, timeout=10)
    assert (invalid.status_code, invalid.json()["error_code"]) == (422, 42201)
    no_body = httpx.post(f"{registry}/subjects/{subject}/versions", json={}, timeout=10)
    assert no_body.status_code == 422


def test_the_single_object_codec_alone_still_reads_what_it_wrote(local_stack: Settings) -> None:
    # The fallback codec needs no registry at all (wire_format="single-object" and no Confluent records).
    codec = AvroSingleObjectCodec(read_schema_dir(local_stack.codec.schemas_dir))
    assert codec.decode(encode_command(codec, command()).value).name == "UpsertDocument"


def test_the_apicurio_api_the_connect_converter_calls_shares_subjects_and_ids(registry: str) -> None:
    """The calls Apicurio's Kafka Connect converter makes (Debezium writes Avro through it), on the
    subjects and ids of the Confluent API, so records it frames are read by every Confluent reader."""
    v2 = f"{registry}/apis/registry/v2"
    namespace = f"io.ragstream.test.{unique_tag()}"
    artifact = f"{namespace}.topic-value"
    schema = json.dumps(_schemas(namespace)[0][2])
    create = {"X-Registry-ArtifactId": artifact, "X-Registry-ArtifactType": "AVRO"}
    upsert = {"ifExists": "RETURN_OR_UPDATE", "canonical": "false"}

    created = httpx.post(
        f"{v2}/groups/default/artifacts", params=upsert, headers=create, content=schema, timeout=10
    )
    assert created.status_code == 200, created.text
    meta = created.json()
    assert (meta["groupId"], meta["id"], meta["version"], meta["type"]) == ("default", artifact, "1", "AVRO")
    assert meta["globalId"] == meta["contentId"]
    # The artifact is the Confluent subject of the same name, with the same id.
    confluent = httpx.get(f"{registry}/subjects/{artifact}/versions/latest", timeout=10).json()
    assert (confluent["id"], confluent["version"]) == (meta["contentId"], 1)
    again = httpx.post(
        f"{v2}/groups/default/artifacts", params=upsert, headers=create, content=schema, timeout=10
    )
    assert again.json()["contentId"] == meta["contentId"] and again.json()["version"] == "1"

    # Looked up by content (spacing does not matter), and served by id.
    found = httpx.post(f"{v2}/groups/default/artifacts/{artifact}/meta", params={"canonical": "true"},
                       content=json.dumps(json.loads(schema), indent=2), timeout=10)  # fmt: skip
    assert found.json()["contentId"] == meta["contentId"]
    for kind in ("contentIds", "globalIds"):
        by_id = httpx.get(f"{v2}/ids/{kind}/{meta['contentId']}", timeout=10)
        assert json.loads(by_id.text) == json.loads(schema)
        assert httpx.get(f"{v2}/ids/{kind}/{meta['contentId']}/references", timeout=10).json() == []
    latest = httpx.get(f"{v2}/groups/default/artifacts/{artifact}/versions/latest/meta", timeout=10).json()
    assert latest["contentId"] == meta["contentId"]

    # The subject's compatibility rule holds here too; errors in Apicurio's shape, 4xx on bad input.
    breaking = json.dumps(_schemas(namespace, {"name": "n", "type": "int"})[0][2])
    refused = httpx.post(
        f"{v2}/groups/default/artifacts", params=upsert, headers=create, content=breaking, timeout=10
    )
    assert refused.status_code == 409 and refused.json()["name"] == "RuleViolationException"
    exists = httpx.post(f"{v2}/groups/default/artifacts", headers=create, content=schema, timeout=10)
    assert (exists.status_code, exists.json()["error_code"]) == (409, 409)  # ifExists defaults to FAIL
    cases = [
        httpx.get(f"{v2}/ids/contentIds/999999999", timeout=10),
        httpx.get(f"{v2}/groups/default/artifacts/{artifact}-nope/meta", timeout=10),
        httpx.post(f"{v2}/groups/default/artifacts", params=upsert, headers=create, content="{", timeout=10),
        httpx.post(
            f"{v2}/groups/default/artifacts", params=upsert, headers=create, content=b"\xff\xfe", timeout=10
        ),
        httpx.post(f"{v2}/groups/default/artifacts", params=upsert, content=schema, timeout=10),
        httpx.post(
            f"{v2}/groups/default/artifacts",
            params={"ifExists": "SOMETIMES"},
            headers=create,
            content=schema,
            timeout=10,
        ),
        httpx.post(
            f"{v2}/groups/default/artifacts",
            params=upsert,
            headers={**create, "X-Registry-ArtifactType": "PROTOBUF"},
            content=schema,
            timeout=10,
        ),
        httpx.get(f"{v2}/ids/contentIds/not-a-number", timeout=10),
    ]
    assert [(r.status_code, r.json()["error_code"]) for r in cases] == [
        (404, 404), (404, 404), (422, 422), (422, 422), (422, 422), (422, 422), (422, 422), (422, 422),
    ]  # fmt: skip
