"""Horizontal scaling on the local stack: two stream workers share the partitions and two query API
replicas serve together; a worker killed mid-batch (SIGKILL) loses nothing and duplicates nothing,
as both replicas show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragstream.local.pipeline import LocalPipeline
from ragstream.observability.lag import group_lag
from ragstream.topics import catalogue
from tests.integration.helpers import (
    decoded_records,
    logs_on_failure,
    post_documents,
    search,
    token_of,
    wait_for_token,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
]


@pytest.fixture(scope="module")
def two_workers(
    pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPipeline]:
    running = LocalPipeline(
        pipeline_env, Path(tmp_path_factory.mktemp("logs")), workers=2, worker_loglevel="INFO"
    )
    with logs_on_failure(running):
        running.start()
        running.start_query_replica("query-api-2")
        yield running


def document(i: int) -> dict[str, Any]:
    marker = f"uniq{i:03d}marker"
    body = "\n\n".join(
        f"{marker} {' '.join(WORDS[(i + k) % 16] for k in range(12))} paragraph {p}." * 6 for p in range(3)
    )
    return {"document_id": f"doc-{i:03d}", "content": body}


def test_two_workers_share_the_partitions(two_workers: LocalPipeline) -> None:
    settings = two_workers.settings
    # A worker answers /health before its consumer has joined (table recovery and topic checks come
    # first), and on a loaded 2-core machine that takes a while: the deadline is wait_ready's. The
    # broker's view, as the lag gauges read it: a group it cannot describe yet has no members.
    deadline = time.monotonic() + 180
    while (group := asyncio.run(group_lag(settings.kafka, settings.streams.app_id))).members < 2:
        # On failure the workers' logs are reported with the test (tests/conftest.py).
        assert time.monotonic() < deadline, (
            f"the second worker never joined the consumer group ({group.state}, {group.members} members)"
        )
        time.sleep(1)


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(two_workers: LocalPipeline) -> None:
    settings = two_workers.settings
    docs = [document(i) for i in range(24)]
    written = post_documents(two_workers.command_url, docs)
    embeddings = catalogue(settings.kafka.topic_prefix).embeddings.name

    # Kill a worker once the pipeline is demonstrably mid-flight: some documents embedded, not all.
    deadline = time.monotonic() + 120
    while not any(d.name == "DocumentEmbedded" for *_, d in decoded_records(settings, embeddings)):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    two_workers.processes["worker-1"].kill()
    two_workers.start_worker("worker-3")

    token = token_of(written)
    replicas = [two_workers.query_url, two_workers.query_replicas["query-api-2"]]
    for url in replicas:
        wait_for_token(url, token)
    latest: dict[str, dict[str, Any]] = {}
    for *_, d in decoded_records(settings, embeddings):
        if d.name == "DocumentEmbedded":
            latest[d.record["document_id"]] = d.record
    assert set(latest) == {d["document_id"] for d in docs}

    for url in replicas:
        for i, doc in enumerate(docs):
            # Dense, because the vector index holds one point per chunk (the keyword index, one per document).
            hits = search(url, f"uniq{i:03d}marker", mode="dense", limit=100,
                          filters={"document_ids": [doc["document_id"]]})  # fmt: skip
            expected = {
                f"{doc['document_id']}#v1#c{c['chunk_number']}" for c in latest[doc["document_id"]]["chunks"]
            }
            assert sorted(h["chunk_id"] for h in hits) == sorted(expected)  # each chunk once, version 1
        ready = two_workers.node_status(url)
        assert ready["documents"] == len(docs)
        assert ready["chunks"] == sum(len(r["chunks"]) for r in latest.values())
        for doc in docs:
            view = httpx.get(f"{url}/v1/documents/{doc['document_id']}").json()
            assert view["version"] == 1 and view["status"] == "active"
