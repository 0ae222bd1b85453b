"""Auth on the real command API (real broker): who may write where."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragstream.auth.keys import create_key
from ragstream.commands.api.app import create_app
from ragstream.kafka import create_topics
from ragstream.settings import AuthSettings, Settings
from ragstream.topics import catalogue
from tests.integration.helpers import decoded_records

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured(isolated_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    asyncio.run(create_topics(isolated_settings.kafka, catalogue(isolated_settings.kafka.topic_prefix).all()))
    keys = Path(tmp_path_factory.mktemp("auth")) / "keys.json"
    return isolated_settings.model_copy(update={"auth": AuthSettings(enabled=True, api_keys_file=keys)})


@pytest.fixture(scope="module")
def client(secured: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(secured)) as c:
        yield c


def test_only_a_write_key_of_the_right_tenant_can_write(client: TestClient, secured: Settings) -> None:
    path = secured.auth.api_keys_file
    writer = create_key(path, name="w", tenant="acme", principals=[], scopes=["read", "write"])
    reader = create_key(path, name="r", tenant="acme", principals=[], scopes=["read"])
    doc = {"document_id": "secret-plan", "content": "launch on friday"}

    assert client.post("/v1/documents", json=doc).status_code == 401
    assert client.post("/v1/documents", json=doc, headers={"X-API-Key": "rsk_forged"}).status_code == 401
    assert client.post("/v1/documents", json=doc, headers={"X-API-Key": reader}).status_code == 403
    mismatch = client.post("/v1/documents", json=doc, headers={"X-API-Key": writer, "X-Tenant": "globex"})
    assert mismatch.status_code == 403
    accepted = client.post("/v1/documents", json=doc, headers={"X-API-Key": writer, "X-Actor": "spoofed"})
    assert accepted.status_code == 202, accepted.text

    topic = catalogue(secured.kafka.topic_prefix).commands.name
    records = [
        d.record for *_, d in decoded_records(secured, topic) if d.record["document_id"] == "secret-plan"
    ]
    assert [(r["tenant"], r["actor"]) for r in records] == [("acme", "key:w")]  # actor comes from the key
