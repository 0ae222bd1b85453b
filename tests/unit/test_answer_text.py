"""Sentence splitting keeps exact offsets; term normalisation is consistent across word forms."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragstream.queries.answers.sse import iter_sse_data
from ragstream.queries.answers.text import _SUFFIXES, idf_weights, overlap_with, split_sentences, stem, terms

pytestmark = pytest.mark.unit


def test_sentences_keep_offsets_into_the_source() -> None:
    text = "  First one. Second (e.g. this) one!  Third?\n\nFourth without stop\n- a list item\n- another"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "First one.",
        "Second (e.g. this) one!",
        "Third?",
        "Fourth without stop",
        "- a list item",
        "- another",
    ]
    for sentence in sentences:
        assert text[sentence.start : sentence.end] == sentence.text


def test_markdown_heading_is_its_own_sentence() -> None:
    text = "# Retries\nThe consumer retries failed requests."
    assert [s.text for s in split_sentences(text)] == ["# Retries", "The consumer retries failed requests."]


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert [s.text for s in split_sentences('He said "stop." Then left.')] == [
        'He said "stop."',
        "Then left.",
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


@pytest.mark.parametrize(
    "forms",
    [
        ("retry", "retries", "retried", "retrying"),
        ("configure", "configured", "configuration"),
        ("database", "databases"),
        ("index", "indexes", "indexing", "indexed"),
        ("policy", "policies"),
    ],
)
def test_stemming_conflates_word_forms(forms: tuple[str, ...]) -> None:
    assert len({stem(f) for f in forms}) == 1


def _stem_by_the_rule(word: str) -> str:
    # The rule as written: the first suffix of the list that leaves three characters, then a final e.
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="abcdeghilmnorstxy", max_size=12))
def test_stemming_by_last_letter_stems_as_the_ordered_rule(word: str) -> None:
    # Only the suffixes that end in the word's last letter are tried, for speed; nothing else changes.
    assert stem(word) == _stem_by_the_rule(word)


def test_terms_drop_stopwords_and_punctuation() -> None:
    assert terms("What is the retry policy, please?") == ["retry", "policy"]


# Pieces of text around every kind of boundary (punctuation, quotes, abbreviations, blank lines,
# list items, headings), joined in any order.
_PIECES = [*"ab c.!?\"')\n#-*1", "e.g", "vs", "Data", "é", "\n\n", "\n- ", "# T\n", " 2) "]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_sentences_hold_every_word_of_their_text(text: str) -> None:
    # The extractive answer counts a passage's terms as its sentences' terms: no word may fall
    # between sentences or be cut by a boundary.
    words = [w for s in split_sentences(text) for w in terms(s.text)]
    assert sorted(words) == sorted(terms(text))


def test_overlap_weights_rare_terms_higher() -> None:
    weights = idf_weights([["kafka", "retry"], ["kafka"], ["kafka", "theme"]])
    overlap = overlap_with(["kafka", "retry"], weights)
    assert overlap(["retry"]) > overlap(["kafka"])
    assert overlap(["kafka", "retry"]) == pytest.approx(1.0)
    assert overlap_with([], weights)(["kafka"]) == 0.0


async def test_sse_decoding_handles_comments_multiline_and_missing_final_blank_line() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [
            ": keep-alive",
            "",
            "event: message",
            "data: one",
            "data:two",
            "",
            "id: 7",
            "data: last",
        ]:
            yield line

    assert [d async for d in iter_sse_data(lines())] == ["one\ntwo", "last"]
