"""A producer that is not ragstream's: a small Java program (the machine's JDK, the Kafka client and
Apache Avro from Maven Central) writes an UpsertDocument in the registry's wire format, and
ragstream indexes it and answers from it (examples/java/, shown in the README)."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import PROJECT_ROOT
from ragstream.topics import catalogue
from tests.integration.helpers import search, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("java") is None or shutil.which("mvn") is None, reason="needs a JDK and Maven"
    ),
]
RUN = PROJECT_ROOT / "examples" / "java" / "run.sh"


def test_a_java_producer_writes_a_document_that_ragstream_indexes_and_answers_from(
    pipeline: LocalPipeline,
) -> None:
    settings = pipeline.settings
    produced = subprocess.run(
        [
            "bash", str(RUN), settings.kafka.bootstrap_servers, settings.codec.registry_url,
            catalogue(settings.kafka.topic_prefix).commands.name,
            str(settings.codec.schemas_dir / "UpsertDocument.v1.avsc"),
            "acme", "java/refunds", "Refund policy",
            "Refunds for annual plans are paid back within fourteen days by the Quillback billing team.",
        ],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    partition, offset = produced.stdout.split()
    token = f"{partition}:{offset}"  # the written record's position, as the command API would return it

    hits = search(pipeline.query_url, "Quillback refunds", tenant="acme", token=token)
    assert hits and hits[0]["document_id"] == "java/refunds" and hits[0]["title"] == "Refund policy"
    answer = httpx.post(
        f"{pipeline.query_url}/v1/answer",
        json={"question": "Who pays refunds for annual plans back?", "consistency_token": token},
        headers={"X-Tenant": "acme"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "Quillback" in body["answer"]
    assert [c["document_id"] for c in body["citations"]] == ["java/refunds"]

    def recorded() -> bool:
        url = f"{pipeline.query_url}/v1/documents/java/refunds/history"
        entries = httpx.get(url, headers={"X-Tenant": "acme"}, timeout=10).json().get("entries", [])
        return [e["actor"] for e in entries] == ["service:java-producer"]

    wait_until(recorded, timeout=60)
