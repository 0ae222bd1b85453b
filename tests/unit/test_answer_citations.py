"""Resolving [n] markers in generated text against the numbered passages."""

from __future__ import annotations

import re

import pytest

from ragstream.queries.answers.base import NOT_FOUND_TEXT, Passage
from ragstream.queries.answers.citations import answer_from_text

pytestmark = pytest.mark.unit

DOC = (
    "Intro. Kafka retains events for seven days by default. Compaction keeps the latest value per key. "
    "Consumers commit offsets after processing."
)
P1_TEXT = DOC[DOC.index("Kafka retains") : DOC.index(" Consumers")]
P2_TEXT = "Consumers commit offsets after processing."
PASSAGES = [
    Passage(
        1, "kafka", "kafka#v3#c0", "Kafka", P1_TEXT, DOC.index(P1_TEXT), DOC.index(P1_TEXT) + len(P1_TEXT)
    ),
    Passage(2, "kafka", "kafka#v3#c1", "Kafka", P2_TEXT, DOC.index(P2_TEXT), len(DOC)),
]


def test_valid_markers_become_citations_with_the_best_supporting_sentence() -> None:
    answer = answer_from_text("Compaction keeps only the latest value for each key [1].", PASSAGES)
    assert answer.grounded
    [citation] = answer.citations
    assert citation.marker == 1
    assert citation.quote == "Compaction keeps the latest value per key."
    assert DOC[citation.start : citation.end] == citation.quote


def test_invalid_markers_are_dropped_with_their_space() -> None:
    answer = answer_from_text("Events live seven days [1] [7]. Offsets are committed [0][2].", PASSAGES)
    assert answer.text == "Events live seven days [1]. Offsets are committed [2]."
    assert [c.marker for c in answer.citations] == [1, 2]
    assert answer.citations[1].quote == P2_TEXT


def test_marker_groups_are_normalised() -> None:
    answer = answer_from_text("Kafka keeps events and consumers commit offsets [1, 2, 9, 1].", PASSAGES)
    assert answer.text == "Kafka keeps events and consumers commit offsets [1][2]."
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == {c.marker for c in answer.citations}


def test_only_invalid_markers_is_ungrounded() -> None:
    answer = answer_from_text("The sky is green [5].", PASSAGES)
    assert answer.text == "The sky is green."
    assert answer.citations == []
    assert not answer.grounded


def test_claim_without_overlap_cites_the_whole_passage() -> None:
    [citation] = answer_from_text("Yes [2].", PASSAGES).citations
    assert citation.quote == P2_TEXT
    assert (citation.start, citation.end) == (PASSAGES[1].start, PASSAGES[1].end)


def test_refusal_text_is_ungrounded() -> None:
    answer = answer_from_text(NOT_FOUND_TEXT, PASSAGES)
    assert answer.text == NOT_FOUND_TEXT
    assert not answer.grounded


def test_empty_text_becomes_the_refusal() -> None:
    assert answer_from_text(" [9] ", PASSAGES).text == NOT_FOUND_TEXT


def test_marker_after_the_period_cites_the_sentence_before_it() -> None:
    answer = answer_from_text(
        "Consumers commit offsets. [2] Compaction keeps the latest value. [1]", PASSAGES
    )
    assert [c.marker for c in answer.citations] == [2, 1]
    assert answer.citations[0].quote == P2_TEXT
    assert answer.citations[1].quote == "Compaction keeps the latest value per key."
