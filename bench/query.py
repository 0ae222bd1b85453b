"""`bench query`: search and answer latency at 10k and 100k chunks with the embedded read models.

The model cannot embed 100k chunks here in reasonable time, so the indexes are loaded directly with
synthetic DocumentEmbedded records (real-ish text, random unit vectors) through the query node's own
projector, then queried through QueryService with the real query embedding, in this process.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from ragstream.bench.memory import PeakMemory
from ragstream.bench.stats import latency_summary, stage_p50
from ragstream.bench.synthetic import DIMENSION, embedded_records
from ragstream.embedding import Embedder, load_embedder
from ragstream.queries.answers.extractive import ExtractiveGenerator
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.indexing.generation import Generation
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.queries.service import Mode, QueryService, SearchQuery
from ragstream.records import LogRecord
from ragstream.settings import get_settings

QUESTIONS = (
    "What does the with statement do?",
    "How are exceptions raised and caught?",
    "context manager enter and exit methods",
    "What is the difference between a list and a tuple?",
    "How do generators and the yield expression work?",
    "operator precedence of comparisons",
    "How are default argument values evaluated?",
    "What does the global statement mean for name binding?",
    "string formatting with format specifications",
    "How does attribute lookup work on classes and instances?",
    "import system and packages",
    "What happens when a class is created with a metaclass?",
    "slicing sequences with a step",
    "asynchronous iterators and async for",
    "truth value testing of objects",
    "How do I delete an item from a dictionary?",
)
BATCH_RECORDS = 500  # what the index feed applies per batch


def run(sizes: Sequence[int], queries: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with PeakMemory() as memory:
        settings = get_settings()
        embedder = load_embedder(settings.embedding)
        embedder.embed_query("warm-up")
        for size in sizes:
            results[str(size)] = _one_size(size, queries, embedder)
        peaks = memory.peaks_mb()
    return {
        "bench": "query",
        "sizes": results,
        "queries_per_kind": queries,
        "client": "sequential, in-process QueryService (no HTTP), hybrid mode, query embedding included",
        "index": "synthetic: real-ish chunk text, random unit vectors (dim 384), loaded by IndexProjector",
        "search_limit": 10,
        "answer_passages": 5,
        "peak_rss_mb": peaks,
    }


def _one_size(size: int, queries: int, embedder: Embedder) -> dict[str, Any]:
    settings = get_settings()
    root = Path(tempfile.mkdtemp(prefix=f"bench-query-{size}-"))
    try:
        generation = Generation.open(root, "g1", DIMENSION)
        load_s = _load(generation, size)
        vector = generation.projector.vector
        assert isinstance(vector, QdrantEdgeVectorIndex)
        started = time.perf_counter()
        changed = vector.optimize()  # builds the HNSW graph; searches before it scan segments
        optimize_s = time.perf_counter() - started
        service = QueryService(
            cast(IndexFeed, _LoadedFeed(generation)), embedder, ExtractiveGenerator(), settings.retrieval
        )
        search, answer = asyncio.run(_measure(service, queries))
        out = {
            "chunks": vector.count(),
            "load_s": round(load_s, 2),
            "load_chunks_per_s": round(size / load_s, 1),
            "optimize_s": round(optimize_s, 2),
            "optimize_changed": bool(changed),
            "search": search,
            "answer": answer,
        }
        generation.close()
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _LoadedFeed:
    """What QueryService reads of its feed, for indexes loaded directly: no log to follow or wait for."""

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        self.command_positions: dict[int, int] = {}

    async def wait_for(self, positions: dict[int, int], timeout: float) -> bool:
        return True


def _load(generation: Generation, size: int) -> float:
    started = time.perf_counter()
    batch: list[LogRecord] = []
    for offset, record in enumerate(embedded_records(size)):
        batch.append(LogRecord("DocumentEmbedded", record, "bench", 0, offset))
        if len(batch) == BATCH_RECORDS:
            generation.projector.apply_batch(batch)
            batch = []
    if batch:
        generation.projector.apply_batch(batch)
    return time.perf_counter() - started


async def _measure(service: QueryService, count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    def query(i: int, limit: int) -> SearchQuery:
        return SearchQuery(QUESTIONS[i % len(QUESTIONS)], "default", [], limit=limit, mode=Mode.HYBRID)

    for i in range(len(QUESTIONS)):  # warm caches and thread pools, untimed
        await service.search(query(i, 10))
    summaries: list[dict[str, Any]] = []
    for kind in ("search", "answer"):
        latencies = []
        timings: list[dict[str, float]] = []
        began = time.perf_counter()
        for i in range(count):
            started = time.perf_counter()
            if kind == "search":
                result = await service.search(query(i, 10))
            else:
                _, _, result = await service.answer(query(i, 5))
            latencies.append(time.perf_counter() - started)
            timings.append(result.timings_ms)
        summary: dict[str, Any] = dict(latency_summary(latencies, time.perf_counter() - began))
        # The service's own stage timings; bm25 and the embed+vector path run concurrently.
        summary["stage_p50_ms"] = stage_p50(timings)
        summary["_samples_ms"] = [round(s * 1000, 3) for s in latencies]  # for --plot, never printed
        summaries.append(summary)
    return summaries[0], summaries[1]
