"""How the keyword read models read a query and rebuild a document from its chunks (pure logic)."""

from __future__ import annotations

import pytest

from ragstream.queries.readmodels.base import IndexedChunk
from ragstream.queries.readmodels.keyword_text import KeywordQuery, document_text, parse_keyword_query

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
