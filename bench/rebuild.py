"""`bench rebuild`: replaying stored embeddings from the embeddings topic into a fresh index generation,
the work a blue/green rebuild does (no model involved: the vectors are in the log), HNSW build
included: once directly through the query node's projector, once end to end through the admin
rebuild of a running query API (`POST /v1/admin/rebuild`, followed to the swap), with the latency of
the searches that API answers from its live generation meanwhile.

Without --prefix the topic is filled first with synthetic DocumentEmbedded records (not timed); with
--prefix an existing pipeline's topic is replayed (for example an `eval-...` one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from ragstream.bench.corpus import TENANT
from ragstream.bench.cpu import tree_cpu_s
from ragstream.bench.memory import PeakMemory
from ragstream.bench.pipeline import discarded_after, get_json, query_api_on
from ragstream.bench.query import QUESTIONS
from ragstream.bench.stats import latency_summary
from ragstream.bench.synthetic import DIMENSION
from ragstream.bench.topic import fill_synthetic, read_batches
from ragstream.codec import load_codec
from ragstream.local.pipeline import LocalPipeline
from ragstream.queries.admin.rebuild import REBUILD_BATCH_RECORDS
from ragstream.queries.indexing.generation import Generation
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.settings import Settings, get_settings
from ragstream.topics import catalogue

WAIT_S = 3600.0


def run(chunks: int, prefix: str | None, path: str = "both") -> dict[str, Any]:
    settings = get_settings()
    holder: dict[str, LocalPipeline] = {}
    names = lambda: {p.pid: n for n, p in holder["p"].processes.items()} if "p" in holder else {}  # noqa: E731
    with PeakMemory(names) as memory, contextlib.ExitStack() as created:
        if prefix is None:
            prefix = f"bench-rebuild-{uuid.uuid4().hex[:8]}"
            created.enter_context(discarded_after(prefix))  # a topic of the caller's stays
            fill_s = asyncio.run(fill_synthetic(settings, prefix, chunks))
            source = "synthetic DocumentEmbedded records (random unit vectors, real-ish text)"
        else:
            fill_s = 0.0
            source = f"existing topic of pipeline {prefix}"
        out: dict[str, Any] = {"bench": "rebuild", "source": source, "fill_s": round(fill_s, 2)}
        if path in ("projector", "both"):
            root = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
            try:
                out["projector"] = _projector_summary(asyncio.run(_replay(settings, prefix, root)))
            finally:
                shutil.rmtree(root, ignore_errors=True)
        if path in ("admin", "both"):
            out["admin"] = _through_admin(prefix, holder)
        out["peak_rss_mb"] = memory.peaks_mb()
    return out


def _projector_summary(result: dict[str, Any]) -> dict[str, Any]:
    total_s = result["replay_s"] + result["optimize_s"]
    return {
        "chunks": result["chunks"],
        "documents": result["documents"],
        "records": result["records"],
        "replay_s": round(result["replay_s"], 2),
        "fetch_decode_s": round(result["fetch_decode_s"], 2),
        "apply_s": round(result["apply_s"], 2),
        "optimize_s": round(result["optimize_s"], 2),
        "replay_chunks_per_s": round(result["chunks"] / result["replay_s"], 1),
        "chunks_per_s": round(result["chunks"] / total_s, 1),
    }


def _through_admin(prefix: str, holder: dict[str, LocalPipeline]) -> dict[str, Any]:
    """`POST /v1/admin/rebuild` on a query API whose live generation holds the topic (caught up and
    indexed), followed to the swap as an operator would."""
    with (
        query_api_on(prefix, "admin") as (pipeline, chunks),
        httpx.Client(base_url=pipeline.query_url, headers={"X-Tenant": TENANT}, timeout=60) as client,
    ):
        holder["p"] = pipeline
        url = pipeline.query_url
        deadline = time.monotonic() + WAIT_S
        pid = pipeline.processes["query-api"].pid
        cpu_at = tree_cpu_s(pid)
        job = httpx.post(f"{url}/v1/admin/rebuild", json={"read_model": "all"}, timeout=60).json()
        phases: dict[str, float] = {}
        phase_cpu: dict[str, float] = {}
        # Searches of the live generation while the new one is built, one per look at the job:
        # blue/green means they go on being answered, and this is how fast.
        searches: list[float] = []
        wall = time.monotonic()
        last, since = job["phase"], time.monotonic()

        def close_phase() -> None:
            """Add the wall and CPU seconds since the last phase change to phase `last`."""
            nonlocal since, cpu_at
            now, cpu_now = time.monotonic(), tree_cpu_s(pid)
            phases[last] = phases.get(last, 0.0) + now - since
            phase_cpu[last] = phase_cpu.get(last, 0.0) + cpu_now - cpu_at
            since, cpu_at = now, cpu_now

        while job["state"] == "running":
            if time.monotonic() > deadline:
                raise TimeoutError("gave up waiting for the rebuild")
            time.sleep(0.1)
            sent = time.perf_counter()
            query = QUESTIONS[len(searches) % len(QUESTIONS)]
            client.post("/v1/search", json={"query": query, "limit": 10}).raise_for_status()
            searches.append(time.perf_counter() - sent)
            job = get_json(f"{url}/v1/admin/jobs/{job['id']}", deadline)
            if job["phase"] != last:
                close_phase()
                last = job["phase"]
        close_phase()
        if job["state"] != "done":
            raise RuntimeError(f"rebuild failed: {job.get('error')}")
        wall_s = float(job["finished_at"]) - float(job["started_at"])
        cpu_s = sum(phase_cpu.values())
        cores = os.cpu_count() or 1
        return {
            "chunks": chunks,
            "wall_s": round(wall_s, 2),
            "chunks_per_s": round(chunks / wall_s, 1),
            "phase_s": {k: round(v, 2) for k, v in phases.items()},
            # CPU seconds of the query API and its children (the log decoder, the HNSW build), the
            # searches below included: the rate every core busy throughout would give is the most
            # that more parallelism alone could reach on this machine.
            "cpu_s": round(cpu_s, 2),
            "phase_cpu_s": {k: round(v, 2) for k, v in phase_cpu.items()},
            "cores_busy": round(cpu_s / wall_s, 2),
            "chunks_per_s_all_cores_busy": round(chunks * cores / cpu_s, 1) if cpu_s else None,
            "generation": job["generation"],
            "search_during": {
                **latency_summary(searches, time.monotonic() - wall),
                "max_ms": round(max(searches, default=0.0) * 1000, 3),
                "searches": len(searches),
            },
        }


async def _replay(settings: Settings, prefix: str, root: Path) -> dict[str, Any]:
    codec = load_codec(settings.codec)
    topic = catalogue(prefix).embeddings.name
    generation = Generation.open(root, "g2", DIMENSION)
    chunks = records = 0
    apply_s = 0.0
    started = time.perf_counter()
    try:
        # Fetch and decode happen in read_batches; apply in a thread, as the index feed does.
        async for batch in read_batches(settings.kafka, topic, codec, max_records=REBUILD_BATCH_RECORDS):
            records += len(batch)
            chunks += sum(len(r.record.get("chunks", ())) for r in batch if r.name == "DocumentEmbedded")
            applied = time.perf_counter()
            await asyncio.to_thread(generation.projector.apply_batch, batch)
            apply_s += time.perf_counter() - applied
        replay_s = time.perf_counter() - started
        documents = generation.projector.state.count_documents()
        vector = generation.projector.vector
        assert isinstance(vector, QdrantEdgeVectorIndex)
        optimized = time.perf_counter()
        vector.optimize()
        optimize_s = time.perf_counter() - optimized
    finally:
        generation.close()
    return {
        "chunks": chunks, "documents": documents, "records": records, "replay_s": replay_s,
        "apply_s": apply_s, "fetch_decode_s": replay_s - apply_s, "optimize_s": optimize_s,
    }  # fmt: skip
