"""Hybrid retrieval and grounded answers, served only from the read models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import Histogram

from ragstream.embedding.base import Embedder
from ragstream.embedding.query_cache import QueryVectorCache
from ragstream.queries.answers.base import Generator, Passage, passages_from_chunks
from ragstream.queries.answers.resilient import Generated, ResilientGenerator, StreamItem
from ragstream.queries.answers.templates import PromptTemplate
from ragstream.queries.consistency import CommandLogBounds, PositionWatch, parse_token
from ragstream.queries.exceptions import NotCaughtUp
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.readmodels.base import DocumentHit, Hit, KeywordIndex, SearchFilter, VectorIndex
from ragstream.queries.readmodels.shared import SharedIndexes
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.queries.retrieval.fusion import FusedHit, FusionMethod, rank
from ragstream.queries.retrieval.page import resolve_page
from ragstream.settings import RetrievalSettings

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
    normalization: str | None = None
    sibling_weight: float | None = None
    consistency_token: str | None = None
    # Who asked (the credential's subject), for the query log.
    subject: str = ""


@dataclass(frozen=True)
class SearchResult:
    hits: list[FusedHit]
    timings_ms: dict[str, float]


@dataclass
class SharedReadModels:
    """Server read models every query node searches, and where their projection has got to (the
    stream workers publish it in PostgreSQL; one watch per process follows it for waiting queries)."""

    indexes: SharedIndexes
    state: SharedIndexState
    positions: PositionWatch

    @classmethod
    def of(cls, indexes: SharedIndexes, state: SharedIndexState) -> SharedReadModels:
        return cls(indexes, state, PositionWatch(state.command_positions))


def _behind(applied: Mapping[int, int], needed: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    return {p: (applied.get(p, -1), o) for p, o in needed.items() if applied.get(p, -1) < o}


class QueryService:
    def __init__(
        self,
        feed: IndexFeed,
        embedder: Embedder,
        generator: Generator | ResilientGenerator,
        settings: RetrievalSettings,
        *,
        shared: SharedReadModels | None = None,
        query_cache_size: int = 0,
        bounds: CommandLogBounds | None = None,
    ) -> None:
        self.feed = feed
        self.embedder = embedder
        self.query_vectors = QueryVectorCache(query_cache_size)
        # Answers go through the resilient wrapper (deadline, breaker, fallback) when it has one.
        self.generator = (
            generator if isinstance(generator, ResilientGenerator) else ResilientGenerator(generator)
        )
        self.settings = settings
        self.shared = shared
        # Without bounds (tests without a broker) a token is checked for its form only.
        self.bounds = bounds

    def read_models(self) -> tuple[KeywordIndex, VectorIndex]:
        """The keyword and vector index to search: a server one where configured, else this node's."""
        projector = self.feed.generation.projector
        shared = self.shared.indexes if self.shared is not None else None
        keyword = shared.keyword if shared is not None and shared.keyword is not None else projector.keyword
        vector = shared.vector if shared is not None and shared.vector is not None else projector.vector
        assert keyword is not None and vector is not None, "each read model is either local or shared"
        return keyword, vector

    async def check_token(self, token: str) -> dict[int, int]:
        """The command positions of a consistency token, checked against the commands topic (400
        for one that is malformed or beyond what was written)."""
        positions = parse_token(token)
        if self.bounds is not None:
            await self.bounds.check(positions)
        return positions

    async def wait_applied(self, positions: Mapping[int, int], timeout: float) -> dict[int, tuple[int, int]]:
        """{} once this node's read models (and the server ones) have applied every command position
        given, else, when `timeout` ends, per partition what they applied and what was needed."""
        deadline = time.monotonic() + timeout
        needed = dict(positions)
        if not await self.feed.wait_for(needed, timeout):
            return _behind(self.feed.command_positions, needed)
        if self.shared is not None:
            return await self.shared.positions.wait_for(needed, max(0.0, deadline - time.monotonic()))
        return {}

    async def holds(self, tenant: str, document_id: str, version: int) -> bool:
        """Whether every read model searched here holds `version` of the document (or a later one)."""
        state = self.feed.generation.projector.state
        if await asyncio.to_thread(state.version, tenant, document_id) < version:
            return False
        if self.shared is not None:
            held = await self.shared.state.versions([(tenant, document_id)])
            return held.get((tenant, document_id), 0) >= version
        return True

    async def _consistent(self, token: str | None) -> None:
        if not token:
            return
        positions = await self.check_token(token)
        behind = await self.wait_applied(positions, self.settings.consistency_timeout_s)
        if behind:
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
        (keyword, vector_index), embedder = self.read_models(), self.embedder

        async def timed(stage: str, fn, *args):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            out = await asyncio.to_thread(fn, *args)
            elapsed = time.perf_counter() - started
            timings[stage] = timings.get(stage, 0.0) + elapsed * 1000
            STAGE_SECONDS.labels(stage).observe(elapsed)
            return out

        async def best_chunks(documents: list[DocumentHit]) -> list[Hit]:
            return await timed("bm25_chunks", keyword.best_chunks, q.text, flt, documents)  # type: ignore[no-any-return]

        async def lexical() -> list[Hit | DocumentHit]:
            if q.mode == Mode.DENSE:
                return []
            documents: list[DocumentHit] = await timed("bm25", keyword.search_documents, q.text, flt, depth)
            # Loading a document's best chunk is most of a keyword search's cost, and only the page's
            # documents need one. The top keyword documents (the page, were BM25 alone to decide)
            # get theirs now, while the vector search runs; any other document that reaches the page
            # gets its chunk after fusion.
            page_end = q.offset + q.limit
            cited: list[Hit] = await best_chunks(documents[:page_end]) if documents else []
            return [*cited, *documents[page_end:]]

        async def dense() -> list[Hit]:
            if q.mode == Mode.BM25:
                return []
            vector = await timed("embed", self.query_vectors.embed_query, embedder, q.text, q.tenant)
            return await timed("vector", vector_index.search, vector.tolist(), flt, depth)  # type: ignore[no-any-return]

        bm25_hits, vector_hits = await asyncio.gather(lexical(), dense())
        started = time.perf_counter()
        # A single-retriever mode keeps its retriever's own order: the other chunks' support, which
        # lifts hybrid rankings, costs the vector order alone ~0.01 nDCG@10 on SciFact (BENCHMARKS.md).
        siblings = q.sibling_weight if q.sibling_weight is not None else self.settings.sibling_weight
        ranked = rank(
            FusionMethod(q.fusion or self.settings.fusion),
            bm25_hits,
            vector_hits,
            rrf_k=q.rrf_k if q.rrf_k is not None else self.settings.rrf_k,
            alpha=q.alpha if q.alpha is not None else self.settings.convex_alpha,
            normalization=q.normalization or self.settings.normalization,
            sibling_weight=siblings if q.mode == Mode.HYBRID else 0.0,
        )
        timings["fusion"] = (time.perf_counter() - started) * 1000
        STAGE_SECONDS.labels("fusion").observe(timings["fusion"] / 1000)
        return SearchResult(await resolve_page(ranked, q.offset, q.limit, best_chunks), timings)

    async def passages(self, q: SearchQuery) -> tuple[list[Passage], SearchResult]:
        result = await self.search(q)
        return passages_from_chunks([h.chunk for h in result.hits]), result

    async def answer(
        self, q: SearchQuery, template: PromptTemplate | None = None
    ) -> tuple[Generated, list[Passage], SearchResult]:
        passages, result = await self.passages(q)
        started = time.perf_counter()
        generated = await self.generator.generate(q.text, passages, template)
        result.timings_ms["generation"] = (time.perf_counter() - started) * 1000
        STAGE_SECONDS.labels("generation").observe(result.timings_ms["generation"] / 1000)
        return generated, passages, result

    async def stream_answer(
        self, q: SearchQuery, template: PromptTemplate | None = None
    ) -> tuple[AsyncIterator[StreamItem], list[Passage]]:
        passages, _ = await self.passages(q)
        return self.generator.stream(q.text, passages, template), passages
