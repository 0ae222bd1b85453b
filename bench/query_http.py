"""`bench query --http`: search and answer latency as a client sees it, through a running query API.

For each size, the embeddings topic of a new pipeline is filled with synthetic DocumentEmbedded
records, a query API (no stream worker) builds its live generation from it and its HNSW graph, and
one sequential client (keep-alive) sends searches and answers over HTTP: query embedding, both
retrievers, fusion, JSON and the web stack included. Every timed query text is new, so none is
served from the query-embedding cache; a second pass repeats the same texts to show that cache.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from ragstream.bench.cpu import tree_cpu_s
from ragstream.bench.memory import PeakMemory, rss_mb
from ragstream.bench.pipeline import discarded_after, query_api_on
from ragstream.bench.query import QUESTIONS
from ragstream.bench.stats import latency_summary, percentile, stage_p50
from ragstream.bench.topic import fill_synthetic, write_one
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import get_settings

HEADERS = {"X-Tenant": "default"}


def run(sizes: Sequence[int], queries: int) -> dict[str, Any]:
    settings = get_settings()
    holder: dict[str, LocalPipeline] = {}
    results: dict[str, Any] = {}

    def names() -> dict[int, str]:
        return {p.pid: n for n, p in holder["p"].processes.items()} if "p" in holder else {}

    with PeakMemory(names) as memory:
        for size in sizes:
            prefix = f"bench-qhttp-{uuid.uuid4().hex[:8]}"
            with discarded_after(prefix):
                fill_s = asyncio.run(fill_synthetic(settings, prefix, size))
                started = time.perf_counter()
                probes: list[float] = []
                visible: list[float] = []
                with query_api_on(prefix, "query", probe=_prober(probes, visible, prefix)) as (
                    pipeline,
                    chunks,
                ):
                    holder["p"] = pipeline
                    ready_s = time.perf_counter() - started
                    results[str(size)] = {
                        "chunks": chunks,
                        "fill_s": round(fill_s, 2),
                        "index_ready_s": round(ready_s, 2),
                        # Searches while the node waits to build its graph, then builds it: where a build
                        # holds the query API, one of them waits for all of it (max_ms).
                        "search_before_graph": _probed(probes),
                        # Documents written meanwhile, seconds from the broker's ack until a search finds
                        # them: where the build holds the feed's writes, one waits for all of it (max_s).
                        "written_before_graph": _seen(visible),
                        **_measure(pipeline.query_url, queries, pipeline.processes["query-api"].pid),
                        # Resident memory once the graph is built and the queries are done: the peak
                        # (peak_rss_mb) is the HNSW build's, while the old and new segments coexist.
                        "query_api_rss_mb": rss_mb(pipeline.processes["query-api"].pid),
                    }
                del holder["p"]
        peaks = memory.peaks_mb()
    return {
        "bench": "query",
        "client": "sequential over HTTP (httpx, keep-alive) to a query API process, hybrid mode",
        "index": "synthetic: real-ish chunk text, random unit vectors (dim 384), via the live index feed",
        "sizes": results,
        "queries_per_kind": queries,
        "search_limit": 10,
        "answer_passages": 5,
        "peak_rss_mb": peaks,
    }


def _measure(url: str, count: int, server_pid: int) -> dict[str, Any]:
    def text(i: int) -> str:
        # A new text each time: the query-embedding cache must not serve the timed queries.
        return f"{QUESTIONS[i % len(QUESTIONS)]} {i}"

    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client:

        def search(i: int) -> dict[str, float]:
            response = client.post("/v1/search", json={"query": text(i), "limit": 10})
            response.raise_for_status()
            return response.json()["timings_ms"]  # type: ignore[no-any-return]

        def answer(i: int) -> dict[str, float]:
            response = client.post("/v1/answer", json={"question": text(i), "passages": 5})
            response.raise_for_status()
            return response.json()["timings_ms"]  # type: ignore[no-any-return]

        for i in range(len(QUESTIONS)):  # warm connections, thread pools and caches, untimed
            client.post("/v1/search", json={"query": QUESTIONS[i]}).raise_for_status()
        offset = len(QUESTIONS)
        out = {
            "search": _timed(search, range(offset, offset + count), server_pid),
            "answer": _timed(answer, range(offset + count, offset + 2 * count), server_pid),
            # The same search texts again: now served by the query-embedding cache.
            "search_repeated": _timed(search, range(offset, offset + count), server_pid),
        }
    return out


def _prober(
    latencies: list[float], visible: list[float], prefix: str, write_every_s: float = 6.0
) -> Callable[[LocalPipeline], None]:
    """A search each call and, every `write_every_s` (longer than the feed's idle wait before it
    builds, or it would never build), a new document written to the embeddings topic: the seconds
    from its ack to a search finding it go to `visible`."""
    settings = get_settings()
    last_write = [0.0]

    def probe(pipeline: LocalPipeline) -> None:
        started = time.perf_counter()
        body = {"query": QUESTIONS[0], "limit": 10}
        httpx.post(
            f"{pipeline.query_url}/v1/search", json=body, headers=HEADERS, timeout=600
        ).raise_for_status()
        latencies.append(time.perf_counter() - started)
        if time.monotonic() - last_write[0] < write_every_s:
            return
        last_write[0] = time.monotonic()
        word = f"probe{uuid.uuid4().hex[:12]}"
        asyncio.run(write_one(settings, prefix, f"probe/{word}", f"A freshness probe {word}."))
        written = time.perf_counter()
        while True:
            body = {"query": word, "limit": 1, "mode": "bm25"}
            response = httpx.post(f"{pipeline.query_url}/v1/search", json=body, headers=HEADERS, timeout=600)
            if response.raise_for_status().json()["hits"]:
                break
            time.sleep(0.02)
        visible.append(time.perf_counter() - written)

    return probe


def _probed(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"searches": 0}
    return {"searches": len(seconds), "p50_ms": round(percentile(seconds, 50) * 1000, 3),
            "max_ms": round(max(seconds) * 1000, 3)}  # fmt: skip


def _seen(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"writes": 0}
    return {
        "writes": len(seconds),
        "p50_s": round(percentile(seconds, 50), 3),
        "max_s": round(max(seconds), 3),
    }


def _timed(call: Callable[[int], dict[str, float]], numbers: range, server_pid: int) -> dict[str, Any]:
    """The client's latencies, the p50 of each stage the server timed (`timings_ms`: the part of a
    request that no stage accounts for is the web stack's and the thread hand-offs'), and the query
    API's CPU time per request (every thread of it: a figure the neighbours of a shared machine move
    far less than latencies, for comparing two versions of the server's code)."""
    latencies = []
    timings = []
    cpu_before = tree_cpu_s(server_pid)
    began = time.perf_counter()
    for i in numbers:
        started = time.perf_counter()
        timings.append(call(i))
        latencies.append(time.perf_counter() - started)
    summary: dict[str, Any] = dict(latency_summary(latencies, time.perf_counter() - began))
    summary["server_cpu_ms"] = round((tree_cpu_s(server_pid) - cpu_before) * 1000 / len(numbers), 3)
    summary["stage_p50_ms"] = stage_p50(timings)
    return summary
