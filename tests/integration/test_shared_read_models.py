"""Server read models chosen at run time: with RAGSTREAM_OPENSEARCH__URL set, the stream workers project
BM25 into one OpenSearch index (as one consumer group, state in PostgreSQL) and every query API
replica searches it, keeping only the vector read model embedded. Runs against the OpenSearch node
that `make test` starts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragstream.local.pipeline import LocalPipeline
from ragstream.queries.readmodels.base import SearchFilter
from ragstream.queries.readmodels.opensearch_index import OpenSearchKeywordIndex
from tests.integration.helpers import logs_on_failure, post_documents, search, token_of, wait_for_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def opensearch_url() -> str:
    port = os.environ.get("RAGSTREAM_STACK__OPENSEARCH_PORT", "19200")
    url = f"http://127.0.0.1:{port}"
    try:
        httpx.get(url, timeout=3).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"no OpenSearch node at {url} ({exc}); `ragstream stack up --with-opensearch` starts one")
    return url


@pytest.fixture(scope="module")
def shared(pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    env = dict(
        pipeline_env,
        RAGSTREAM_OPENSEARCH__URL=opensearch_url(),
        RAGSTREAM_OPENSEARCH__INDEX=f"{pipeline_env['RAGSTREAM_KAFKA__TOPIC_PREFIX']}-chunks",
    )
    with logs_on_failure(LocalPipeline(env, Path(tmp_path_factory.mktemp("logs")), workers=2)) as running:
        running.start()
        running.start_query_replica("query-api-2")
        yield running


def replicas(pipeline: LocalPipeline) -> list[str]:
    return [pipeline.query_url, *pipeline.query_replicas.values()]


def wait_for(pipeline: LocalPipeline, token: str, timeout_s: float = 180) -> None:
    for url in replicas(pipeline):
        wait_for_token(url, token, timeout_s)


def stored_chunk_ids(pipeline: LocalPipeline) -> dict[str, list[str]]:
    """What OpenSearch itself holds, per document, read without any query node."""
    settings = pipeline.settings
    index = OpenSearchKeywordIndex.connect(settings.opensearch.url, settings.opensearch.index, readonly=True)
    try:
        hits = index.search("marker", SearchFilter(tenant="default"), 1000)
        out: dict[str, list[str]] = {}
        for hit in hits:
            out.setdefault(hit.chunk.document_id, []).append(hit.chunk.chunk_id)
        return {doc: sorted(ids) for doc, ids in out.items()}
    finally:
        index.close()


def doc(i: int, text: str = "") -> dict[str, Any]:
    return {"document_id": f"s-{i}", "content": text or f"marker shared{i} about server read models {i}"}


def test_workers_project_bm25_into_opensearch_and_every_replica_searches_it(shared: LocalPipeline) -> None:
    written = post_documents(shared.command_url, [doc(i) for i in range(6)])
    wait_for(shared, token_of(written))

    assert stored_chunk_ids(shared) == {f"s-{i}": [f"s-{i}#v1#c0"] for i in range(6)}
    for url in replicas(shared):
        hits = search(url, "shared3", mode="bm25")
        assert [h["chunk_id"] for h in hits] == ["s-3#v1#c0"]
        hybrid = search(url, "shared4 server read models", mode="hybrid")
        assert hybrid and hybrid[0]["chunk_id"] == "s-4#v1#c0"
        assert shared.node_status(url)["chunks"] >= 6
    # The query nodes hold no keyword index of their own.
    data_dirs = [Path(shared.env["RAGSTREAM_INDEX__DATA_DIR"])]
    data_dirs.append(Path(f"{shared.env['RAGSTREAM_INDEX__DATA_DIR']}-query-api-2"))
    for data_dir in data_dirs:
        assert list(data_dir.glob("generations/*/vector")) and not list(
            data_dir.glob("generations/*/lexical")
        )


def test_updates_and_deletes_reach_the_shared_index_exactly_once(shared: LocalPipeline) -> None:
    written = post_documents(shared.command_url, [doc(0, "marker shared0 rewritten as version two")])
    deleted = httpx.delete(
        f"{shared.command_url}/v1/documents/s-1", headers={"X-Tenant": "default"}, timeout=30
    )
    written += deleted.json()["commands"]
    wait_for(shared, token_of(written))
    stored = stored_chunk_ids(shared)
    assert stored["s-0"] == ["s-0#v2#c0"] and "s-1" not in stored
    for url in replicas(shared):
        assert search(url, "shared1", mode="bm25") == []
        assert [h["chunk_id"] for h in search(url, "rewritten", mode="bm25")] == ["s-0#v2#c0"]


def test_a_worker_leaving_mid_stream_hands_its_partitions_over(shared: LocalPipeline) -> None:
    docs = [doc(i) for i in range(100, 124)]
    written = post_documents(shared.command_url, docs)
    shared.processes["worker-1"].stop()  # leaves the group cleanly while the batch is in flight
    wait_for(shared, token_of(written), timeout_s=240)
    stored = stored_chunk_ids(shared)
    assert {d["document_id"]: stored.get(d["document_id"]) for d in docs} == {
        d["document_id"]: [f"{d['document_id']}#v1#c0"] for d in docs
    }


def test_the_shared_keyword_index_is_rebuilt_into_a_new_generation_while_writes_go_on(
    shared: LocalPipeline,
) -> None:
    before = stored_chunk_ids(shared)
    started = httpx.post(f"{shared.query_url}/v1/admin/rebuild", json={"read_model": "lexical"}, timeout=30)
    assert started.status_code == 202, started.text
    job = started.json()
    # Writes keep arriving while the new generation is filled and swapped in.
    written = post_documents(
        shared.command_url, [doc(i, f"marker during{i} rebuild") for i in range(200, 206)]
    )
    deadline = time.monotonic() + 180
    while (state := httpx.get(f"{shared.query_url}/v1/admin/jobs/{job['id']}", timeout=30).json())[
        "state"
    ] == "running":
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state["state"] == "done", state
    settings = shared.settings
    assert state["generation"] == f"{settings.opensearch.index}-g000002"
    aliased = httpx.get(f"{settings.opensearch.url}/_alias/{settings.opensearch.index}", timeout=30).json()
    assert list(aliased) == [state["generation"]]  # the alias points at the new generation only

    wait_for(shared, token_of(written))
    after = stored_chunk_ids(shared)
    assert after == before | {f"s-{i}": [f"s-{i}#v1#c0"] for i in range(200, 206)}


def test_a_replay_of_a_shared_read_model_is_refused_with_a_reason(shared: LocalPipeline) -> None:
    response = httpx.post(f"{shared.query_url}/v1/admin/replay", json={"read_model": "lexical"}, timeout=30)
    assert response.status_code == 409 and "server backend" in response.json()["detail"]
