"""Request and response bodies of the query API, split by role. Where a response is a record the
query side already defines (a document, an audit entry, a citation, a passage), it is served as that
record, not copied into a second model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragstream.queries.answers.base import Citation, Passage
from ragstream.queries.registry.store import AuditEntry


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filters(_Body):
    metadata: dict[str, str] = Field(default_factory=dict, max_length=32)
    document_ids: list[str] | None = Field(default=None, max_length=1000)


class SearchIn(_Body):
    query: str = Field(min_length=1, max_length=2000)
    filters: Filters = Field(default_factory=Filters)
    limit: int = Field(default=10, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1000)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    fusion: Literal["rrf", "convex"] | None = None
    rrf_k: int | None = Field(default=None, ge=1, le=1000)
    alpha: float | None = Field(default=None, ge=0.0, le=1.0)
    consistency_token: str | None = Field(default=None, max_length=512)


class AnswerIn(_Body):
    question: str = Field(min_length=1, max_length=2000)
    filters: Filters = Field(default_factory=Filters)
    passages: int = Field(default=5, ge=1, le=20)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    stream: bool = False
    consistency_token: str | None = Field(default=None, max_length=512)


class RetrieverScores(BaseModel):
    bm25: float | None
    bm25_rank: int | None
    vector: float | None
    vector_rank: int | None


class SearchHitOut(BaseModel):
    rank: int
    score: float
    document_id: str
    chunk_id: str
    version: int
    title: str
    text: str
    start: int
    end: int
    metadata: dict[str, str]
    scores: RetrieverScores


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    timings_ms: dict[str, float]


class AnswerOut(BaseModel):
    answer: str
    grounded: bool
    citations: list[Citation]
    passages: list[Passage]
    timings_ms: dict[str, float]


class AnswerDelta(BaseModel):
    """`event: delta` of a streamed answer (`"stream": true`): the next piece of the text."""

    text: str


class AnswerCitations(BaseModel):
    """`event: citations` of a streamed answer, after the last delta; `event: done` follows."""

    grounded: bool
    citations: list[Citation]


class HistoryOut(BaseModel):
    document_id: str
    entries: list[AuditEntry]
