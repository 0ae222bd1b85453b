"""Commands -> Kafka -> stream workers -> read models, on the real stack (issue: stream processors)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import DeleteDocument, UpsertDocument, consistency_token
from ragstream.local.pipeline import LocalPipeline
from ragstream.topics import catalogue, document_key
from tests.integration.helpers import (
    decoded_records,
    post_documents,
    read_topic,
    search,
    token_of,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOREM = (
    "Kafka stores {topic} records in partitions so consumers can replay them. "
    "Each paragraph here talks about {topic} in some detail to fill the chunk budget. "
    "Retrieval systems index {topic} passages for search and question answering. "
    "The quick brown fox jumps over the lazy dog while {topic} keeps streaming along. "
)


def paragraph(topic: str, repeat: int = 3) -> str:
    return " ".join([LOREM.format(topic=topic)] * repeat)


def doc_ids(hits: list[dict[str, Any]]) -> set[str]:
    return {h["document_id"] for h in hits}


def history(pipeline: LocalPipeline, document_id: str, tenant: str = "default") -> list[dict[str, Any]]:
    response = httpx.get(
        f"{pipeline.query_url}/v1/documents/{document_id}/history", headers={"X-Tenant": tenant}
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def embedded_records(pipeline: LocalPipeline, document_id: str) -> list[dict[str, Any]]:
    topic = catalogue(pipeline.settings.kafka.topic_prefix).embeddings.name
    return [
        d.record
        for _, _, _, d in decoded_records(pipeline.settings, topic)
        if d.name == "DocumentEmbedded" and d.record["document_id"] == document_id
    ]


def test_ingested_document_is_searchable_in_both_read_models(pipeline: LocalPipeline) -> None:
    written = post_documents(pipeline.command_url, [
        {"document_id": "fox", "title": "Foxes", "content": "The zorblax fox hunts voles at dawn in the snow."},
        {"document_id": "boat", "title": "Boats", "content": "Sailing boats use wind; motor boats burn fuel."},
    ])  # fmt: skip
    token = token_of(written)
    assert "fox" in doc_ids(search(pipeline.query_url, "zorblax", mode="bm25", token=token))
    assert "fox" in doc_ids(search(pipeline.query_url, "animal hunting small rodents", mode="dense", limit=1))
    view = httpx.get(f"{pipeline.query_url}/v1/documents/fox").json()
    assert view["status"] == "active" and view["version"] == 1
    wait_until(
        lambda: (
            set(httpx.get(f"{pipeline.query_url}/v1/documents/fox").json()["read_models"])
            >= {"lexical", "vector"}
        )
    )


def test_update_replaces_old_chunks_and_delete_removes_everything(pipeline: LocalPipeline) -> None:
    token = token_of(
        post_documents(pipeline.command_url, [{"document_id": "memo", "content": "alpha quokka memo"}])
    )
    assert doc_ids(search(pipeline.query_url, "quokka", mode="bm25", token=token)) == {"memo"}

    token = token_of(
        post_documents(pipeline.command_url, [{"document_id": "memo", "content": "beta wombat memo"}])
    )
    assert search(pipeline.query_url, "quokka", mode="bm25", token=token) == []
    hits = search(pipeline.query_url, "wombat", mode="bm25")
    assert [(h["document_id"], h["version"]) for h in hits] == [("memo", 2)]
    dense = [
        h for h in search(pipeline.query_url, "memo", mode="dense", limit=50) if h["document_id"] == "memo"
    ]
    assert [h["version"] for h in dense] == [2]

    response = httpx.delete(f"{pipeline.command_url}/v1/documents/memo")
    token = token_of(response.json()["commands"])
    assert search(pipeline.query_url, "wombat", mode="bm25", token=token) == []
    assert "memo" not in doc_ids(search(pipeline.query_url, "beta wombat memo", mode="dense", limit=50))
    assert httpx.get(f"{pipeline.query_url}/v1/documents/memo").json()["status"] == "deleted"


def test_duplicate_and_out_of_order_commands_are_rejected_with_reasons(pipeline: LocalPipeline) -> None:
    first = post_documents(
        pipeline.command_url, [{"document_id": "ver", "content": "version five text", "document_version": 5}]
    )
    stale = post_documents(
        pipeline.command_url, [{"document_id": "ver", "content": "older text", "document_version": 3}]
    )
    same = post_documents(
        pipeline.command_url, [{"document_id": "ver", "content": "version five text", "document_version": 6}]
    )
    token = token_of(first + stale + same)
    hits = search(pipeline.query_url, "text", mode="bm25", token=token, filters={"document_ids": ["ver"]})
    assert {h["version"] for h in hits} == {5}
    outcomes = [(e["outcome"], e["reason"].split(":")[0]) for e in history(pipeline, "ver")]
    assert outcomes == [("accepted", ""), ("rejected", "stale"), ("rejected", "unchanged")]


def test_a_burst_of_one_documents_commands_is_decided_in_order(pipeline: LocalPipeline) -> None:
    # Written back to back by one producer, so the worker takes them together and decides them
    # before their events are durable: each must still be judged against the ones before it.
    commands = [
        UpsertDocument(document_id="burst", content="burst version five text", document_version=5),
        UpsertDocument(document_id="burst", content="burst older text", document_version=3),
        UpsertDocument(document_id="burst", content="burst version five text", document_version=6),
        UpsertDocument(document_id="burst", content="burst version seven text", document_version=7),
        DeleteDocument(document_id="burst", document_version=8),
        UpsertDocument(document_id="burst", content="burst version nine text", document_version=9),
    ]

    async def produce() -> str:
        async with CommandProducer(pipeline.settings) as producer:
            written = await producer.send_many(commands)
        return consistency_token(w.position for w in written)

    token = asyncio.run(produce())
    hits = search(pipeline.query_url, "burst", mode="bm25", token=token, filters={"document_ids": ["burst"]})
    assert {h["version"] for h in hits} == {9}
    outcomes = [(e["outcome"], e["reason"].split(":")[0]) for e in history(pipeline, "burst")]
    assert outcomes == [
        ("accepted", ""), ("rejected", "stale"), ("rejected", "unchanged"),
        ("accepted", ""), ("accepted", ""), ("accepted", ""),
    ]  # fmt: skip


def test_unchanged_reingest_embeds_nothing_and_an_edit_reembeds_only_what_changed(
    pipeline: LocalPipeline,
) -> None:
    paragraphs = [paragraph(t) for t in ("apples", "bananas", "cherries")]
    doc = {"document_id": "fruit", "content": "\n\n".join(paragraphs)}
    token_of(post_documents(pipeline.command_url, [doc]))
    wait_until(lambda: len(embedded_records(pipeline, "fruit")) == 1)
    (first,) = embedded_records(pipeline, "fruit")
    assert len(first["chunks"]) >= 3 and first["embeddings_computed"] == len(first["chunks"])

    again = post_documents(pipeline.command_url, [doc])
    search(pipeline.query_url, "apples", token=token_of(again))
    assert len(embedded_records(pipeline, "fruit")) == 1  # nothing new was embedded
    assert history(pipeline, "fruit")[-1]["reason"].startswith("unchanged")

    edited = {"document_id": "fruit", "content": "\n\n".join([*paragraphs[:2], paragraph("durians")])}
    search(pipeline.query_url, "durians", token=token_of(post_documents(pipeline.command_url, [edited])))
    wait_until(lambda: len(embedded_records(pipeline, "fruit")) == 2)
    second = embedded_records(pipeline, "fruit")[-1]
    changed = {c["content_hash"] for c in second["chunks"]} - {c["content_hash"] for c in first["chunks"]}
    assert 1 <= second["embeddings_computed"] == len(changed) < len(second["chunks"])


def test_poison_message_goes_to_the_dead_letter_topic_and_the_partition_keeps_flowing(
    pipeline: LocalPipeline,
) -> None:
    settings = pipeline.settings
    topics = catalogue(settings.kafka.topic_prefix)

    async def produce_garbage() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.commands.name, b"\xc3\x01garbage!", key=document_key("default", "poison")
            )
            await producer.send_and_wait(
                topics.commands.name, b'{"json": "not avro"}', key=document_key("default", "poison")
            )
        finally:
            await producer.stop()

    asyncio.run(produce_garbage())
    token = token_of(
        post_documents(
            pipeline.command_url, [{"document_id": "poison", "content": "healthy capybara after poison"}]
        )
    )
    assert doc_ids(search(pipeline.query_url, "capybara", mode="bm25", token=token)) == {"poison"}

    def dead_letters() -> list[dict[str, bytes]]:
        raw = asyncio.run(read_topic(settings, topics.dlq.name))
        return [dict(m.headers) for _, _, _, m in raw]

    wait_until(lambda: len(dead_letters()) >= 2)
    headers = dead_letters()
    assert {h["processor"] for h in headers} == {b"validate_commands"}
    assert all(h["source_topic"] == topics.commands.name.encode() and h["error"] for h in headers)
    assert {h["error_type"] for h in headers} <= {b"MalformedRecord", b"UnknownSchema"}
