"""Hybrid retrieval and grounded answers, served only from the read models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import Histogram

from queries.answers.base import Answer, Generator, Passage, passages_from_chunks
from queries.exceptions import InvalidConsistencyToken, NotCaughtUp
from queries.indexing.feed import IndexFeed
from queries.retrieval.fusion import FusedHit, FusionMethod, fuse, paginate
from ragstream.settings import RetrievalSettings
from streams.embedding.base import Embedder
from streams.readmodels.base import Hit, SearchFilter

STAGE_SECONDS = Histogram("ragstream_query_stage_seconds", "Time per query stage", ["stage"])


class Mode:
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class SearchQuery:
    text: str
    tenant: str
    principals: Sequence[str] | None
    metadata: Mapping[str, str] = field(default_factory=dict)
    document_ids: Sequence[str] | None = None
    limit: int = 10
    offset: int = 0
    mode: str = Mode.HYBRID
    fusion: str | None = None
    rrf_k: int | None = None
    alpha: float | None = None
    consistency_token: str | None = None


@dataclass(frozen=True)
class SearchResult:
    hits: list[FusedHit]
    timings_ms: dict[str, float]


def parse_token(token: str) -> dict[int, int]:
    positions: dict[int, int] = {}
    try:
        for part in token.split(","):
            partition, offset = part.strip().split(":")
            positions[int(partition)] = max(positions.get(int(partition), -1), int(offset))
    except ValueError:
        raise InvalidConsistencyToken(
            f"bad consistency token {token!r}; expected 'partition:offset'"
        ) from None
    return positions


class QueryService:
    def __init__(
        self, feed: IndexFeed, embedder: Embedder, generator: Generator, settings: RetrievalSettings
    ) -> None:
        self.feed = feed
        self.embedder = embedder
        self.generator = generator
        self.settings = settings

    @property
    def _projector(self):  # type: ignore[no-untyped-def]
        return self.feed.generation.projector

    async def _consistent(self, token: str | None) -> None:
        if not token:
            return
        positions = parse_token(token)
        if not await self.feed.wait_for(positions, self.settings.consistency_timeout_s):
            behind = {
                p: (self.feed.command_positions.get(p, -1), o)
                for p, o in positions.items()
                if self.feed.command_positions.get(p, -1) < o
            }
            raise NotCaughtUp(behind)

    async def search(self, q: SearchQuery) -> SearchResult:
        await self._consistent(q.consistency_token)
        flt = SearchFilter(
            tenant=q.tenant, principals=q.principals, metadata=q.metadata, document_ids=q.document_ids
        )
        # Each retriever returns enough candidates to fill the requested page after fusion.
        depth = max(self.settings.candidates, q.offset + q.limit)
        timings: dict[str, float] = {}
        # One generation and its model for the whole query, even if a rebuild swaps in meanwhile.
        projector, embedder = self._projector, self.embedder

        async def timed(stage: str, fn, *args):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            out = await asyncio.to_thread(fn, *args)
            timings[stage] = (time.perf_counter() - started) * 1000
            STAGE_SECONDS.labels(stage).observe(timings[stage] / 1000)
            return out

        async def lexical() -> list[Hit]:
            if q.mode == Mode.DENSE:
                return []
            return await timed("bm25", projector.keyword.search, q.text, flt, depth)  # type: ignore[no-any-return]

        async def dense() -> list[Hit]:
            if q.mode == Mode.BM25:
                return []
            vector = await timed("embed", embedder.embed_query, q.text)
            return await timed("vector", projector.vector.search, vector.tolist(), flt, depth)  # type: ignore[no-any-return]

        bm25_hits, vector_hits = await asyncio.gather(lexical(), dense())
        started = time.perf_counter()
        method = FusionMethod(q.fusion or self.settings.fusion)
        fused = fuse(
            method,
            bm25_hits,
            vector_hits,
            rrf_k=q.rrf_k or self.settings.rrf_k,
            alpha=q.alpha if q.alpha is not None else self.settings.convex_alpha,
        )
        timings["fusion"] = (time.perf_counter() - started) * 1000
        STAGE_SECONDS.labels("fusion").observe(timings["fusion"] / 1000)
        return SearchResult(paginate(fused, q.offset, q.limit), timings)

    async def passages(self, q: SearchQuery) -> tuple[list[Passage], SearchResult]:
        result = await self.search(q)
        return passages_from_chunks([h.chunk for h in result.hits]), result

    async def answer(self, q: SearchQuery) -> tuple[Answer, list[Passage], SearchResult]:
        passages, result = await self.passages(q)
        started = time.perf_counter()
        answer = await self.generator.generate(q.text, passages)
        result.timings_ms["generation"] = (time.perf_counter() - started) * 1000
        STAGE_SECONDS.labels("generation").observe(result.timings_ms["generation"] / 1000)
        return answer, passages, result

    async def stream_answer(self, q: SearchQuery) -> tuple[AsyncIterator[str], list[Passage]]:
        passages, _ = await self.passages(q)
        return self.generator.stream(q.text, passages), passages
