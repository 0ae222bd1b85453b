"""Hybrid ranking from keyword *documents* (chunks looked up for the page only) must equal the
ranking of the same keyword hits given as chunks, and the page must hold chunks only."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragstream.queries.readmodels.base import DocumentHit, Hit, IndexedChunk
from ragstream.queries.retrieval.exceptions import InvalidFusionArgument
from ragstream.queries.retrieval.fusion import FusedDocument, FusedHit, fuse, rank
from ragstream.queries.retrieval.page import resolve_page

pytestmark = pytest.mark.unit


def part(document: str, number: int) -> IndexedChunk:
    return IndexedChunk("t", document, 1, number, f"{document} part {number}")


class Store:
    """Each document's best chunk, as a keyword index would give it; records every lookup."""

    def __init__(self, best: dict[str, IndexedChunk]) -> None:
        self.best = best
        self.lookups: list[list[str]] = []

    async def lookup(self, documents: list[DocumentHit]) -> Sequence[Hit]:
        self.lookups.append([d.document_id for d in documents])
        return [Hit(self.best[d.document_id], d.score) for d in documents if d.document_id in self.best]


def keyword_lists(keyword: Sequence[tuple[str, int, float]]) -> tuple[list[DocumentHit], list[Hit], Store]:
    documents = [DocumentHit("t", name, score) for name, _, score in keyword]
    chunk_hits = [Hit(part(name, number), score) for name, number, score in keyword]
    return documents, chunk_hits, Store({name: part(name, number) for name, number, _ in keyword})


def summary(hits: Sequence[FusedHit]) -> list[tuple[str, float, int | None, int | None]]:
    return [(h.chunk_id, round(h.score, 12), h.bm25_rank, h.vector_rank) for h in hits]


# Distinct documents for the keyword list (it ranks documents), any chunks for the vector list;
# scores from a few values, so ties (which the tie-breaks must settle alike) are common.
_names = st.sampled_from([f"d{i}" for i in range(8)])
_scores = st.sampled_from([0.1, 0.5, 0.5, 1.0, 2.0])
keyword_strategy = st.lists(
    st.tuples(_names, st.integers(0, 2), _scores), max_size=7, unique_by=lambda k: k[0]
)
vector_strategy = st.lists(st.tuples(_names, st.integers(0, 2), _scores), max_size=7)


@settings(max_examples=300, deadline=None)
@given(
    keyword=keyword_strategy,
    vector=vector_strategy,
    method=st.sampled_from(["rrf", "convex"]),
    alpha=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    normalization=st.sampled_from(["min-max", "z-score"]),
    sibling_weight=st.sampled_from([0.0, 0.2]),
    offset=st.integers(0, 4),
    limit=st.integers(1, 6),
    cited=st.integers(0, 7),
)
def test_pages_from_documents_equal_pages_from_chunks(
    keyword: list[tuple[str, int, float]],
    vector: list[tuple[str, int, float]],
    method: str,
    alpha: float,
    normalization: str,
    sibling_weight: float,
    offset: int,
    limit: int,
    cited: int,
) -> None:
    """The keyword list's first `cited` documents come with their chunks (as the service looks
    them up while the vector search runs), the rest as documents."""
    documents, chunk_hits, store = keyword_lists(keyword)
    vector_hits = [Hit(part(name, number), score) for name, number, score in vector]
    params = {"alpha": alpha, "normalization": normalization, "rrf_k": 2, "sibling_weight": sibling_weight}

    expected = fuse(method, chunk_hits, vector_hits, **params)[offset : offset + limit]  # type: ignore[arg-type]
    mixed: list[Hit | DocumentHit] = [*chunk_hits[:cited], *documents[cited:]]
    ranked = rank(method, mixed, vector_hits, **params)  # type: ignore[arg-type]
    page = asyncio.run(resolve_page(ranked, offset, limit, store.lookup))

    assert summary(page) == summary(expected)
    # Only documents up to the page's end were looked up.
    looked_up = [name for call in store.lookups for name in call]
    assert set(looked_up) <= {
        e.document.document_id for e in ranked[: offset + limit] if isinstance(e, FusedDocument)
    }


def test_a_keyword_document_the_vectors_also_found_needs_no_lookup() -> None:
    ranked = rank("convex", [DocumentHit("t", "A", 3.0)], [Hit(part("A", 2), 0.9), Hit(part("B", 0), 0.5)])
    store = Store({})

    page = asyncio.run(resolve_page(ranked, 0, 10, store.lookup))

    assert [(h.chunk.document_id, h.chunk.chunk_number, h.bm25_rank) for h in page] == [
        ("A", 2, 1),
        ("B", 0, None),
    ]
    assert store.lookups == []


def test_only_the_pages_documents_are_looked_up() -> None:
    documents = [DocumentHit("t", f"d{i}", 10.0 - i) for i in range(10)]
    store = Store({f"d{i}": part(f"d{i}", 0) for i in range(10)})

    page = asyncio.run(resolve_page(rank("rrf", documents, []), 0, 3, store.lookup))

    assert [h.chunk.document_id for h in page] == ["d0", "d1", "d2"]
    assert store.lookups == [["d0", "d1", "d2"]]


def test_a_document_gone_before_its_lookup_gives_its_place_to_the_next() -> None:
    documents = [DocumentHit("t", f"d{i}", 10.0 - i) for i in range(5)]
    store = Store({name: part(name, 0) for name in ("d0", "d2", "d3", "d4")})  # d1 was deleted

    page = asyncio.run(resolve_page(rank("rrf", documents, []), 1, 2, store.lookup))

    # Without d1 the ranking is d0, d2, d3, d4: its second page of two starts at d2.
    assert [h.chunk.document_id for h in page] == ["d2", "d3"]
    assert store.lookups == [["d0", "d1", "d2"], ["d3"]]


def test_bad_page_bounds_are_refused_before_any_lookup() -> None:
    store = Store({"d0": part("d0", 0)})
    with pytest.raises(InvalidFusionArgument):
        asyncio.run(resolve_page(rank("rrf", [DocumentHit("t", "d0", 1.0)], []), 0, 0, store.lookup))
    assert store.lookups == []
