"""The command side against the real broker: Avro round trip, per-document ordering, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ragstream.commands.api.app import create_app
from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import DeleteDocument, UpdateDocumentAccess, UpsertDocument
from ragstream.kafka import create_topics
from ragstream.settings import Settings
from ragstream.topics import catalogue, document_key
from tests.integration.helpers import decoded_records

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def topics(isolated_settings: Settings) -> Settings:
    asyncio.run(create_topics(isolated_settings.kafka, catalogue(isolated_settings.kafka.topic_prefix).all()))
    return isolated_settings


@pytest.fixture(scope="module")
def client(topics: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(topics)) as c:
        yield c


def commands_topic(settings: Settings) -> str:
    return catalogue(settings.kafka.topic_prefix).commands.name


async def _send(settings: Settings, commands: list) -> list:  # type: ignore[type-arg]
    async with CommandProducer(settings) as producer:
        return await producer.send_many(commands)


def test_sdk_round_trip_of_every_command_type(topics: Settings) -> None:
    upsert = UpsertDocument(
        tenant="acme", document_id="guides/ünïcode.md", actor="user:ann", title="Guide", content="# Hi\nBody ✓",
        content_type="text/markdown", metadata={"lang": "en"}, acl=["group:eng"], source={"system": "wiki"},
    )  # fmt: skip
    access = UpdateDocumentAccess(tenant="acme", document_id="guides/ünïcode.md", acl=["user:bob"])
    delete = DeleteDocument(tenant="acme", document_id="guides/ünïcode.md", document_version=9)
    written = asyncio.run(_send(topics, [upsert, access, delete]))

    records = {(p, o): d for p, o, _, d in decoded_records(topics, commands_topic(topics))}
    got = [records[(w.position.partition, w.position.offset)] for w in written]
    assert [d.name for d in got] == ["UpsertDocument", "UpdateDocumentAccess", "DeleteDocument"]
    assert got[0].record["content"] == "# Hi\nBody ✓"
    assert got[0].record["acl"] == ["group:eng"] and got[0].record["metadata"] == {"lang": "en"}
    assert got[0].record["event_time"] == upsert.event_time
    assert got[1].record["acl"] == ["user:bob"] and got[1].record["metadata"] is None
    assert got[2].record["document_version"] == 9
    assert {d.record["command_id"] for d in got} == {upsert.command_id, access.command_id, delete.command_id}


def test_one_documents_commands_stay_in_order_on_one_partition(topics: Settings) -> None:
    commands = []
    for i in range(25):
        commands.append(UpsertDocument(tenant="t1", document_id="ordered", content=f"revision {i}"))
        commands.append(UpsertDocument(tenant="t1", document_id=f"other-{i}", content="noise"))
    asyncio.run(_send(topics, commands))

    key = document_key("t1", "ordered")
    mine = [(p, o, d) for p, o, k, d in decoded_records(topics, commands_topic(topics)) if k == key]
    assert len({p for p, _, _ in mine}) == 1
    mine.sort(key=lambda r: r[1])
    assert [d.record["content"] for _, _, d in mine] == [f"revision {i}" for i in range(25)]


def test_api_accepts_a_document_and_reports_where_it_was_written(
    client: TestClient, topics: Settings
) -> None:
    response = client.post(
        "/v1/documents",
        json={
            "document_id": "faq/1",
            "title": "FAQ",
            "content": "What is ragstream?",
            "metadata": {"team": "docs"},
        },
        headers={"X-Tenant": "acme", "X-Actor": "user:ann"},
    )
    assert response.status_code == 202, response.text
    (accepted,) = response.json()["commands"]
    position = accepted["position"]
    assert accepted["consistency_token"] == f"{position['partition']}:{position['offset']}"

    records = {(p, o): d for p, o, _, d in decoded_records(topics, commands_topic(topics))}
    record = records[(position["partition"], position["offset"])]
    assert record.name == "UpsertDocument"
    assert record.record["command_id"] == accepted["command_id"]
    assert (record.record["tenant"], record.record["actor"]) == ("acme", "user:ann")
    assert record.record["metadata"] == {"team": "docs"}


def test_api_batch_delete_and_patch(client: TestClient) -> None:
    batch = client.post(
        "/v1/documents", json={"documents": [{"document_id": f"b{i}", "content": "x"} for i in range(3)]}
    )
    assert batch.status_code == 202 and len(batch.json()["commands"]) == 3
    assert client.delete("/v1/documents/b0").status_code == 202
    assert client.patch("/v1/documents/b1", json={"acl": ["group:ops"]}).status_code == 202
    assert client.patch("/v1/documents/b1", json={}).status_code == 422


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"document_id": "x", "content": "   "}, {}, 422),
        ({"document_id": "", "content": "text"}, {}, 422),
        ({"document_id": "x", "content": "text", "acl": ["alice"]}, {}, 422),
        ({"document_id": "x", "content": "text", "metadata": {"a": {"nested": "no"}}}, {}, 422),
        ({"document_id": "x", "content": "text", "content_type": "application/pdf"}, {}, 422),
        ({"document_id": "x", "content": "text", "surprise": 1}, {}, 422),
        ({"document_id": "x", "content": "text"}, {"X-Tenant": "bad tenant/"}, 422),
        ({"documents": []}, {}, 422),
        ({"document_id": "x", "content": "text", "title": "nul\u0000title"}, {}, 422),
        ({"document_id": "x", "content": "text", "metadata": {"k": "nul\u0000"}}, {}, 422),
        ({"documents": [{"document_id": f"d{i}", "content": "x"} for i in range(300)]}, {}, 413),
    ],
)
def test_api_rejects_bad_commands_and_writes_nothing(
    client: TestClient,
    topics: Settings,
    body: dict,
    headers: dict,
    status: int,  # type: ignore[type-arg]
) -> None:
    before = len(decoded_records(topics, commands_topic(topics)))
    response = client.post("/v1/documents", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert len(decoded_records(topics, commands_topic(topics))) == before


def test_api_rejects_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/v1/documents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"document_id": "x", "content": "caf\xe9"}', "application/json", 422),  # invalid UTF-8
        (b'{"document_id": "x", "content": "lone \\ud800 surrogate"}', "application/json", 422),
        (
            b'{"document_id": "x", "content": "x", "document_version": 99999999999999999999}',
            "application/json",
            422,
        ),
        (b"document_id=x&content=y", "application/x-www-form-urlencoded", 422),
        (b"just text", "text/plain", 422),
        (b'{"document_id": "x", "content": "' + b"a" * (9 * 1024 * 1024) + b'"}', "application/json", 413),
    ],
)
def test_api_rejects_bad_bodies_with_a_clear_4xx(
    client: TestClient, topics: Settings, content: bytes, content_type: str, status: int
) -> None:
    before = len(decoded_records(topics, commands_topic(topics)))
    response = client.post("/v1/documents", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] and response.json()["status"] == status
    assert len(decoded_records(topics, commands_topic(topics))) == before
