"""Runs every judged query through the query API and keeps each retriever's chunk-level hits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ragstream.queries.readmodels.base import Hit, IndexedChunk

MODES = ("bm25", "dense", "hybrid")
DEPTH = 100  # the most the query API returns in one page; Recall@100 needs all of them
MAX_QUERY_CHARS = 2000


@dataclass(frozen=True)
class ChunkHit:
    document_id: str
    chunk_id: str
    version: int
    # The score of the retriever the mode ran (BM25 or cosine); the fused score for hybrid.
    score: float

    def as_hit(self) -> Hit:
        """A read-model Hit carrying the same chunk id, so the real fusion code can re-fuse it."""
        number = int(self.chunk_id.rsplit("#c", 1)[1])
        return Hit(IndexedChunk("", self.document_id, self.version, number, ""), self.score)


@dataclass(frozen=True)
class ModeRun:
    mode: str
    hits: dict[str, list[ChunkHit]]
    # Client-side latency of each request, HTTP and JSON included.
    latencies_ms: list[float]


def _hits(mode: str, body: Mapping[str, Any]) -> list[ChunkHit]:
    out = []
    for h in body["hits"]:
        scores = h["scores"]
        # The per-retriever score survives single-retriever modes, unlike the fused score.
        score = scores["bm25"] if mode == "bm25" else scores["vector"] if mode == "dense" else h["score"]
        out.append(ChunkHit(h["document_id"], h["chunk_id"], int(h["version"]), float(score)))
    return out


async def run_mode(
    query_url: str,
    queries: Mapping[str, str],
    mode: str,
    *,
    fusion: Mapping[str, Any] | None = None,
    concurrency: int = 4,
    on_done: Callable[[], None] | None = None,
) -> ModeRun:
    semaphore = asyncio.Semaphore(concurrency)
    hits: dict[str, list[ChunkHit]] = {}
    latencies: list[float] = []
    extra = {k: v for k, v in (fusion or {}).items() if v is not None}

    async def one(client: httpx.AsyncClient, query_id: str, text: str) -> None:
        body = {"query": text[:MAX_QUERY_CHARS] or "?", "limit": DEPTH, "mode": mode, **extra}
        async with semaphore:
            started = time.perf_counter()
            response = await client.post(f"{query_url}/v1/search", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"query {query_id} ({mode}): {response.status_code} {response.text[:500]}")
        hits[query_id] = _hits(mode, response.json())
        if on_done is not None:
            on_done()

    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(one(client, q, text) for q, text in queries.items()))
    return ModeRun(mode, hits, latencies)


def document_rankings(run: ModeRun) -> dict[str, list[str]]:
    return {query: [h.document_id for h in hits] for query, hits in run.hits.items()}
