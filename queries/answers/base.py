"""Typed interface of answer generators.

Passages are numbered from 1 and the number is the citation marker: an answer says "... [2]" to cite
passage 2. Every citation carries the exact quoted text and its character span in the *document* text,
so a client can highlight the source without re-running retrieval.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ragstream.queries.answers.exceptions import InvalidGeneratorArgument
from ragstream.queries.readmodels.base import IndexedChunk

if TYPE_CHECKING:
    from ragstream.queries.answers.templates import PromptTemplate

NOT_FOUND_TEXT = "I could not find anything relevant to that question in the indexed documents."


@dataclass(frozen=True)
class Passage:
    number: int
    document_id: str
    chunk_id: str
    title: str
    text: str
    # Character span of `text` in the document's extracted text.
    start: int
    end: int
    # Page, slide or sheet of a binary original ("page 2"); "" for text documents.
    location: str = ""

    @classmethod
    def from_chunk(cls, number: int, chunk: IndexedChunk) -> Passage:
        return cls(
            number, chunk.document_id, chunk.chunk_id, chunk.title, chunk.text, chunk.start, chunk.end,
            chunk.location,
        )  # fmt: skip


def passages_from_chunks(chunks: Sequence[IndexedChunk]) -> list[Passage]:
    """Number chunks 1..n in the given (ranked) order."""
    return [Passage.from_chunk(i, chunk) for i, chunk in enumerate(chunks, start=1)]


def index_passages(passages: Sequence[Passage]) -> dict[int, Passage]:
    """Passages by marker number; duplicate or non-positive numbers would make citations ambiguous."""
    by_number: dict[int, Passage] = {}
    for passage in passages:
        if passage.number < 1:
            raise InvalidGeneratorArgument(f"passage numbers start at 1, got {passage.number}")
        if passage.number in by_number:
            raise InvalidGeneratorArgument(f"passage number {passage.number} is used twice")
        by_number[passage.number] = passage
    return by_number


@dataclass(frozen=True)
class Citation:
    marker: int
    document_id: str
    chunk_id: str
    title: str
    # Span of `quote` in the document text.
    start: int
    end: int
    # Exact substring of the cited passage's text.
    quote: str
    # Page, slide or sheet of a binary original ("page 2"); "" for text documents.
    location: str = ""


def citation_for(passage: Passage, offset: int, end_offset: int) -> Citation:
    """Cite passage.text[offset:end_offset], translating the span into document coordinates."""
    return Citation(
        marker=passage.number,
        document_id=passage.document_id,
        chunk_id=passage.chunk_id,
        title=passage.title,
        start=passage.start + offset,
        end=passage.start + end_offset,
        quote=passage.text[offset:end_offset],
        location=passage.location,
    )


@dataclass(frozen=True)
class Answer:
    # Inline markers like [1] refer to `Citation.marker`.
    text: str
    citations: list[Citation] = field(default_factory=list)
    grounded: bool = False

    @classmethod
    def not_found(cls) -> Answer:
        return cls(NOT_FOUND_TEXT, [], False)


@runtime_checkable
class Generator(Protocol):
    """`template`: the tenant's prompt template (None: the built-in one); a generator without a
    prompt (the extractive one) ignores it."""

    async def generate(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> Answer:
        """A complete answer whose every marker resolves to one of `citations`."""

    def stream(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> AsyncIterator[str]:
        """Text deltas of the answer as they are produced.

        Joined, they form the answer text; `queries.answers.citations.answer_from_text` turns that into an
        `Answer` with resolved citations.
        """
