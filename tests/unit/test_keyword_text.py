"""How the keyword read models read a query and rebuild a document from its chunks (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from ragstream.queries.readmodels.base import DocumentHit, IndexedChunk
from ragstream.queries.readmodels.keyword_text import (
    KeywordQuery,
    document_text,
    parse_keyword_query,
    rank_by_document,
)
from ragstream.queries.readmodels.terms import scoped_key
from tests.contract.factory import make_chunk

pytestmark = pytest.mark.unit


def part(number: int, text: str, start: int, *, title: str = "") -> IndexedChunk:
    return IndexedChunk("t", "d", 1, number, text, title, start, start + len(text))


def test_overlapping_chunks_rebuild_the_text_once() -> None:
    text = "kafka streams feed the index of every node"
    chunks = [part(1, text[6:30], 6), part(0, text[:20], 0, title="Title"), part(2, text[25:], 25)]
    assert document_text(chunks) == "Title\n" + text


def test_chunks_whose_spans_disagree_with_their_text_are_joined_whole() -> None:
    chunks = [part(0, "red apple", 0), IndexedChunk("t", "d", 1, 1, "green apple", "", 0, 11)]
    assert document_text(chunks) == "red apple\ngreen apple"
    apart = [part(0, "one", 0), part(1, "two", 10)]
    assert document_text(apart) == "one\ntwo"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IL-6 is NOT expressed", KeywordQuery("il 6 is not expressed", ())),
        ('tenant:acme "change  log" +kafka', KeywordQuery("tenant acme kafka", ("change log",))),
        ('"unbalanced quote', KeywordQuery("unbalanced quote", ())),
        ("((( ::: )))", None),
        ('""', None),
    ],
)
def test_queries_are_words_and_quoted_phrases(text: str, expected: KeywordQuery | None) -> None:
    assert parse_keyword_query(text) == expected


def test_a_found_document_is_cited_only_by_chunks_of_its_entrys_version() -> None:
    # A stale write left chunk 2 of version 4 beside the document's version 5 (one chunk).
    stale, current = make_chunk("d", 2, "old text", version=4), make_chunk("d", 0, "new text", version=5)
    other = make_chunk("e", 0, "text", version=1)
    found = [DocumentHit("acme", "d", 2.0, 1, version=5), DocumentHit("acme", "e", 1.0)]
    looked_up: list[list[str]] = []

    def stored_chunks(keys: list[str]) -> list[Any]:
        looked_up.append(keys)
        return [stale, current]  # by version, then number, as a backend may order them

    hits = rank_by_document(found, [stale, other], stored_chunks)
    assert [(h.chunk.chunk_id, h.score) for h in hits] == [(current.chunk_id, 2.0), (other.chunk_id, 1.0)]
    assert looked_up == [[scoped_key("acme", "d")]]  # the stale best match did not count


def test_a_document_listed_twice_is_cited_twice_not_refused() -> None:
    chunk = make_chunk("d", 0, "text", version=2)
    found = [DocumentHit("acme", "d", 2.0, 1, version=2), DocumentHit("acme", "d", 1.0, 1, version=2)]
    hits = rank_by_document(found, [chunk], lambda keys: [])
    assert [(h.chunk.chunk_id, h.score) for h in hits] == [(chunk.chunk_id, 2.0), (chunk.chunk_id, 1.0)]
