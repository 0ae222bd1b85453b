"""Request and response bodies of the query API, split by role. Where a response is a record the
query side already defines (a document, an audit entry, a citation, a passage), it is served as that
record, not copied into a second model."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragstream.queries.answers.base import Citation, Passage
from ragstream.queries.answers.templates import (
    DEFAULT_PASSAGE_FORMAT,
    DEFAULT_SYSTEM_PROMPT,
    MAX_FIELD_CHARS,
)
from ragstream.queries.registry.store import AuditEntry

# A prompt template's name (the tenant's own namespace), and its versions (PostgreSQL int).
TEMPLATE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_VERSION = 2**31 - 1


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
    normalization: Literal["min-max", "z-score"] | None = None
    sibling_weight: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Convex fusion: weight of a document's further vector hits, added to its best one's",
    )  # fmt: skip
    consistency_token: str | None = Field(default=None, max_length=512)


class AnswerIn(_Body):
    question: str = Field(min_length=1, max_length=2000)
    filters: Filters = Field(default_factory=Filters)
    passages: int = Field(default=5, ge=1, le=20)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    stream: bool = False
    consistency_token: str | None = Field(default=None, max_length=512)
    template: str | None = Field(
        default=None, pattern=TEMPLATE_NAME,
        description="A prompt template of the caller's tenant; default: the tenant's default template",
    )  # fmt: skip
    template_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Default: the template's latest"
    )


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
    # Page, slide or sheet of a binary original ("page 2"); "" for text documents.
    location: str = ""
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
    template: str | None = Field(
        default=None, description="name@version of the prompt template the language model was given"
    )
    fallback: Literal["extractive"] | None = Field(
        default=None, description="Set when the language model failed and this generator answered instead"
    )
    fallback_reason: Literal["circuit-open", "unavailable", "timeout"] | None = None


class AnswerFallback(BaseModel):
    """`event: fallback` of a streamed answer, before its first delta: the language model failed
    (or its circuit breaker is open) and `generator` writes the answer instead."""

    generator: Literal["extractive"]
    reason: Literal["circuit-open", "unavailable", "timeout"]


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


class TemplateIn(_Body):
    """A prompt template; saving one under an existing name makes its next version. Placeholders:
    the system prompt may use {not_found}, {answer_style} and {language}; the passage format must
    show {number} and {text} and may show {title} and {document_id}; `{{` is a literal brace."""

    name: str = Field(pattern=TEMPLATE_NAME)
    system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT, max_length=MAX_FIELD_CHARS)
    passage_format: str = Field(default=DEFAULT_PASSAGE_FORMAT, max_length=1000)
    answer_style: str = Field(default="", max_length=2000, description="e.g. 'Two sentences, formal.'")
    language: str = Field(default="", max_length=64, description="e.g. 'German'; default: the question's")
    default: bool = Field(default=False, description="Make it the tenant's default (following its latest)")


class TemplateOut(BaseModel):
    name: str
    version: int
    system_prompt: str
    passage_format: str
    answer_style: str
    language: str
    created_at: datetime
    created_by: str
    default: bool = False


class DefaultTemplateIn(_Body):
    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Pin a version; default: follow the latest"
    )


class TemplatesOut(BaseModel):
    default: str | None = Field(description="name, or name@version when pinned; null: the built-in prompt")
    templates: list[TemplateOut]
