"""Turning generated text with [n] markers into an `Answer` whose markers all resolve.

Models cite sloppily: numbers beyond the passage list, "[1, 3]" groups, markers in the middle of words.
Markers are normalised to one "[n]" per passage, invalid numbers are dropped (with the space before them)
and each cited claim is backed by the passage sentence that best supports it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragstream.queries.answers.base import Answer, Citation, Passage, citation_for, index_passages
from ragstream.queries.answers.text import idf_weights, overlap_with, split_sentences, terms

# A run of markers such as "[1]", "[1, 2]" or "[1] [3][4]", handled as one unit so that dropping some of
# them leaves neither a gap nor a glued marker; the leading whitespace is captured for the same reason.
_ONE = r"\[\d+(?:\s*,\s*\d+)*\]"
MARKER = re.compile(rf"(\s*)({_ONE}(?:[ \t]*{_ONE})*)")


def _rewrite_markers(text: str, valid: set[int]) -> str:
    def replace(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(2))]
        kept = list(dict.fromkeys(n for n in numbers if n in valid))
        return match.group(1) + "".join(f"[{n}]" for n in kept) if kept else ""

    return MARKER.sub(replace, text)


def _cited_claims(text: str) -> list[tuple[int, str]]:
    """(marker, answer sentence without markers) for every citation, in reading order, without repeats."""
    pairs: list[tuple[int, str]] = []
    previous = ""
    for sentence in split_sentences(text):
        plain = MARKER.sub("", sentence.text).strip()
        for match in MARKER.finditer(sentence.text):
            # "Claim. [1] Next claim." splits after the period: a leading marker belongs to the claim before.
            claim = previous if match.start() == 0 and previous else plain
            pairs.extend((int(n), claim) for n in re.findall(r"\d+", match.group(2)))
        previous = plain
    return list(dict.fromkeys(pairs))


def best_supporting_citation(passage: Passage, claim: str) -> Citation:
    """Cite the passage sentence sharing most content terms with `claim`; the whole passage if none does."""
    sentences = split_sentences(passage.text)
    sentence_terms = [terms(s.text) for s in sentences]
    weights = idf_weights(sentence_terms)
    score_of = overlap_with(terms(claim), weights)
    best_score, best_index = 0.0, -1
    for index, candidate in enumerate(sentence_terms):
        score = score_of(candidate)
        if score > best_score:
            best_score, best_index = score, index
    if best_index < 0:
        return citation_for(passage, 0, len(passage.text))
    return citation_for(passage, sentences[best_index].start, sentences[best_index].end)


def answer_from_text(text: str, passages: Sequence[Passage]) -> Answer:
    """Resolve the markers in generated `text` against `passages`; grounded iff one marker is valid."""
    by_number = index_passages(passages)
    cleaned = _rewrite_markers(text, set(by_number)).strip()
    if not cleaned:
        return Answer.not_found()
    # Each claim is backed by its own best sentence; two claims resting on the same sentence cite it once.
    citations = list(
        dict.fromkeys(
            best_supporting_citation(by_number[number], claim) for number, claim in _cited_claims(cleaned)
        )
    )
    return Answer(cleaned, citations, grounded=bool(citations))
