"""Commands an upstream system writes to Kafka itself, past the API's models: the validate stage
holds them to the same contract and to what the next topics can carry, rejecting the rest with a
reason in the document's history while the partition keeps flowing (streams/admission.py). And a
document that fits as chunks but not with a vector per chunk: dead-lettered by the chunk stage, before
the model spends any time on it, while the lanes keep embedding everything else; its writer is told
it failed, and its history says so."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from ragstream.codec import load_codec
from ragstream.contracts import UpdateDocumentAccess, UpsertDocument
from ragstream.kafka import admin_client
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import Settings
from ragstream.topics import catalogue, document_key
from tests.integration.helpers import post_documents, read_topic, search, token_of, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# Small records, so a command the commands topic accepts can still make an event too large for
# the events topic without sending megabytes around.
RECORD_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def pipeline_env(pipeline_env: dict[str, str]) -> dict[str, str]:
    """The shared fixture's environment, with small records (tests/conftest.py's `pipeline` runs it)."""
    return {**pipeline_env, "RAGSTREAM_KAFKA__MAX_MESSAGE_BYTES": str(RECORD_LIMIT)}


def produce(settings: Settings, commands: list[tuple[bytes, str, dict[str, Any]]]) -> None:
    """Write Avro commands straight to the topic, as any producer may: no model checks them."""
    codec = load_codec(settings.codec)
    topic = catalogue(settings.kafka.topic_prefix).commands.name

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers, max_request_size=RECORD_LIMIT
        )
        await producer.start()
        try:
            for key, name, record in commands:
                await producer.send_and_wait(topic, codec.encode(name, record), key=key)
        finally:
            await producer.stop()

    asyncio.run(send())


def upsert(document_id: str, content: str, **fields: Any) -> tuple[bytes, str, dict[str, Any]]:
    record = UpsertDocument(document_id=document_id, content=content).to_avro() | fields
    return document_key("default", document_id), "UpsertDocument", record


def assert_refusals_reported_once(pipeline: LocalPipeline) -> None:
    """A refused record is reported as a rejection or a dead letter, not also by asyncio as the
    "exception was never retrieved" of a future faust resolves and nobody awaits (an ERROR with a
    traceback for each refusal; ragstream.streams.delivery.publish)."""
    logs = "".join(p.read_text(errors="replace") for p in pipeline.log_dir.glob("worker*.log"))
    assert "MessageSizeTooLargeError" in logs  # the refusals were logged, as warnings
    assert "exception was never retrieved" not in logs


def history(pipeline: LocalPipeline, document_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{pipeline.query_url}/v1/documents/{document_id}/history", headers={"X-Tenant": "default"}
    )
    return list(response.json()["entries"]) if response.status_code == 200 else []


def test_commands_that_break_the_contract_or_the_record_limit_are_rejected_with_a_reason(
    pipeline: LocalPipeline,
) -> None:
    produce(
        pipeline.settings,
        [
            upsert("direct/nul", "a healthy wombat text", metadata={"team": "ops\x00x"}),
            upsert("direct/huge", "gigantic wombat " * ((RECORD_LIMIT - 2048) // 16)),
            # Broken where the rejection carries the command (its actor, its source): the rejection
            # must still reach the history, which cannot store NUL.
            upsert("direct/actor", "a wombat text", actor="ops\x00bot", source={"via\x00": "cli"}),
        ],
    )
    documents = ("direct/nul", "direct/huge", "direct/actor")
    wait_until(lambda: all(history(pipeline, d) for d in documents))
    [actor] = history(pipeline, "direct/actor")
    assert actor["outcome"] == "rejected" and "actor must not contain NUL" in actor["reason"]
    assert actor["actor"] == "ops\\x00bot"
    [nul] = history(pipeline, "direct/nul")
    assert nul["outcome"] == "rejected" and nul["reason"].startswith("invalid: ")
    assert "metadata must not contain NUL" in nul["reason"]
    [huge] = history(pipeline, "direct/huge")
    assert huge["outcome"] == "rejected" and huge["reason"].startswith("too large: its DocumentUpserted")

    # The partition kept flowing, and the same documents are accepted once they keep the rules.
    token = token_of(
        post_documents(
            pipeline.command_url,
            [
                {
                    "document_id": "direct/nul",
                    "content": "a healthy wombat text",
                    "metadata": {"team": "ops"},
                },
                {"document_id": "direct/huge", "content": "a modest wombat text"},
            ],
        )
    )
    hits = search(pipeline.query_url, "wombat", mode="bm25", token=token)
    assert {h["document_id"] for h in hits} == {"direct/nul", "direct/huge"}
    assert not any("gigantic" in h["text"] for h in hits)
    assert [e["outcome"] for e in history(pipeline, "direct/huge")] == ["rejected", "accepted"]


def test_a_document_too_large_once_embedded_is_dead_lettered_and_the_lane_keeps_flowing(
    pipeline: LocalPipeline,
) -> None:
    settings = pipeline.settings
    # ~80 kB of text: its command, event and chunks fit in a record; with 384 floats per chunk
    # (~140 chunks) its DocumentEmbedded does not, which the chunk stage knows before the model runs.
    sentence = "The narwhal ledger records tusk {n} of the winter survey in the northern bay. "
    large = "\n\n".join(" ".join(sentence.format(n=p * 10 + i) for i in range(10)) for p in range(100))
    [written] = post_documents(pipeline.command_url, [{"document_id": "limits/large", "content": large}])

    def dead_letters() -> list[dict[str, bytes]]:
        raw = asyncio.run(read_topic(settings, catalogue(settings.kafka.topic_prefix).dlq.name))
        return [
            dict(m.headers) for _, _, _, m in raw if dict(m.headers).get("processor") == b"chunk_documents"
        ]

    wait_until(lambda: bool(dead_letters()), timeout=120)
    [letter] = dead_letters()
    assert b"DocumentEmbedded would be over" in letter["error"]

    # The writer is told, and the history says so: accepted, then failed by the chunk stage.
    response = httpx.get(
        f"{pipeline.query_url}/v1/documents/limits/large/events",
        params={"command_id": written["command_id"], "timeout_s": 60},
        headers={"X-Tenant": "default"},
        timeout=90,
    )
    assert response.status_code == 200 and "event: failed" in response.text, response.text
    assert "dead-lettered by chunk_documents" in response.text
    entries = history(pipeline, "limits/large")
    assert [(e["outcome"], e["command_id"]) for e in entries] == [
        ("accepted", written["command_id"]),
        ("failed", written["command_id"]),
    ]
    assert entries[1]["event_type"] == "DocumentUpserted" and entries[1]["version"] == 1
    assert "DocumentEmbedded would be over" in entries[1]["reason"]

    # The lane was not stalled by it: a document written after it is embedded and searchable.
    small = [{"document_id": "limits/small", "content": "a small narwhal note"}]
    hits = search(
        pipeline.query_url,
        "narwhal",
        mode="bm25",
        token=token_of(post_documents(pipeline.command_url, small)),
    )
    assert {h["document_id"] for h in hits} == {"limits/small"}


def set_topic_limit(settings: Settings, topic: str, max_message_bytes: int) -> None:
    async def alter() -> None:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(max_message_bytes)}
        )
        async with admin_client(settings.kafka) as admin:
            await admin.alter_configs([resource])

    asyncio.run(alter())


def test_an_event_the_broker_refuses_rejects_its_command_and_the_document_goes_on_without_it(
    pipeline: LocalPipeline,
) -> None:
    """An operator lowered the events topic's own limit below the worker's: the validate stage's
    size check passes, the broker refuses the event. The command is rejected with the broker's
    reason (not redelivered forever), and the document's next command, in the same batch, is
    decided as if the refused one had never been: there is no document to change."""
    settings = pipeline.settings
    events = catalogue(settings.kafka.topic_prefix).events.name
    set_topic_limit(settings, events, 48 * 1024)
    try:
        access = UpdateDocumentAccess(document_id="refused/big", acl=["group:ops"]).to_avro()
        produce(
            settings,
            [
                upsert("refused/big", "bulky walrus " * (96 * 1024 // 13)),
                (document_key("default", "refused/big"), "UpdateDocumentAccess", access),
                upsert("refused/small", "a small walrus note"),
            ],
        )
        documents = ("refused/big", "refused/small")
        wait_until(
            lambda: (
                all(history(pipeline, d) for d in documents) and len(history(pipeline, "refused/big")) == 2
            )
        )
    finally:
        set_topic_limit(settings, events, RECORD_LIMIT)
    big = history(pipeline, "refused/big")
    assert [e["outcome"] for e in big] == ["rejected", "rejected"]
    assert big[0]["reason"] == "refused by the broker: MessageSizeTooLargeError"
    assert big[1]["reason"].startswith("not found")
    assert [e["outcome"] for e in history(pipeline, "refused/small")] == ["accepted"]

    # The worker kept going, and the document is written once it fits the topic again.
    token = token_of(
        post_documents(pipeline.command_url, [{"document_id": "refused/big", "content": "a walrus again"}])
    )
    hits = search(pipeline.query_url, "walrus", mode="bm25", token=token)
    assert {h["document_id"] for h in hits} == {"refused/big", "refused/small"}
    assert not any("bulky" in h["text"] for h in hits)
    assert_refusals_reported_once(pipeline)


def test_embeddings_the_broker_refuses_are_dead_lettered_and_the_lane_keeps_flowing(
    pipeline: LocalPipeline,
) -> None:
    """The embeddings topic's own limit set below the worker's: the embed stage's size check
    passes and the broker refuses the document's vectors. They are dead-lettered (the writer and
    the history are told), not redelivered forever; documents that fit, sent next to the refused
    one, are embedded and searchable (the writer is told through the history, as for the chunk
    stage's dead letters above)."""
    settings = pipeline.settings
    embeddings = catalogue(settings.kafka.topic_prefix).embeddings.name
    # ~20 kB of text, ~20 chunks: ~50 kB once each chunk carries its 384 floats.
    sentence = "The ocelot census notes sighting {n} along the eastern ridge trail at dusk. "
    long = "\n\n".join(" ".join(sentence.format(n=p * 10 + i) for i in range(10)) for p in range(25))
    set_topic_limit(settings, embeddings, 24 * 1024)
    try:
        written = post_documents(
            pipeline.command_url,
            [
                {"document_id": "refused-vectors/long", "content": long},
                {"document_id": "refused-vectors/short", "content": "a short ocelot note"},
            ],
        )

        def failures() -> list[dict[str, Any]]:
            return [e for e in history(pipeline, "refused-vectors/long") if e["outcome"] == "failed"]

        # A document of this size goes to the bulk lane, which a loaded machine may take a while on.
        wait_until(lambda: bool(failures()), timeout=240)
    finally:
        set_topic_limit(settings, embeddings, RECORD_LIMIT)
    [failed] = failures()
    assert failed["command_id"] == written[0]["command_id"]
    assert failed["reason"].startswith("dead-lettered by embed_"), failed
    assert "MessageSizeTooLargeError" in failed["reason"]

    # (The token names the short document's write only: the refused one never becomes searchable.)
    hits = search(pipeline.query_url, "ocelot", mode="bm25", token=token_of(written[1:]))
    assert {h["document_id"] for h in hits} == {"refused-vectors/short"}

    # The stage kept going, and the topic takes the document now. Sent again as it was, it is
    # unchanged to the validate stage (which cannot know the version failed), and the reason says
    # what to do; with reindex it is a new version of the same content, and searchable.
    same = {"document_id": "refused-vectors/long", "content": long}
    [resent] = post_documents(pipeline.command_url, [same])
    wait_until(
        lambda: resent["command_id"] in {e["command_id"] for e in history(pipeline, same["document_id"])}
    )
    [unchanged] = [
        e for e in history(pipeline, same["document_id"]) if e["command_id"] == resent["command_id"]
    ]
    assert unchanged["outcome"] == "rejected" and unchanged["reason"].startswith("unchanged"), unchanged
    assert "reindex" in unchanged["reason"]
    token = token_of(post_documents(pipeline.command_url, [{**same, "reindex": True}]))
    hits = search(pipeline.query_url, "ocelot sighting eastern ridge", mode="bm25", token=token)
    assert [h["version"] for h in hits if h["document_id"] == same["document_id"]][:1] == [2], hits
    assert_refusals_reported_once(pipeline)
