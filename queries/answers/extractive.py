"""An answer generator without a model: it quotes the passage sentences that best match the question.

Useful offline, in tests and as a fallback when the LLM endpoint is down. Every sentence of its answer is a
verbatim quote, so it is grounded by construction, if not eloquent.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from ragstream.queries.answers.base import Answer, Citation, Passage, citation_for, index_passages
from ragstream.queries.answers.exceptions import InvalidGeneratorArgument
from ragstream.queries.answers.templates import PromptTemplate
from ragstream.queries.answers.text import Sentence, idf_weights, overlap_with, split_sentences, terms

# Keeps sentences only weakly related to the question out of an answer that has a strong match.
_RELATIVE_CUTOFF = 0.5
# Term-set Jaccard similarity above which a sentence repeats one already chosen (chunk overlap, boilerplate).
_DUPLICATE_JACCARD = 0.8
_MIN_WORDS = 3


# Prose is mostly letters; ASCII art, tables and "*****" underlines are not.
_MIN_LETTER_SHARE = 0.7


@dataclass(frozen=True)
class _Candidate:
    passage: Passage
    sentence: Sentence
    terms: frozenset[str]
    score: float


def _is_duplicate(candidate: _Candidate, chosen: Sequence[_Candidate]) -> bool:
    for other in chosen:
        union = candidate.terms | other.terms
        if union and len(candidate.terms & other.terms) / len(union) >= _DUPLICATE_JACCARD:
            return True
    return False


_BOX_DRAWING = re.compile("[\u2500-\u257f]")
_VISIBLE = re.compile(r"\S")
# Letters as str.isalpha counts them: word characters that are neither digits nor "_" (the regex
# module's \w is isalnum() plus "_", and \d is isdecimal(); the other numerics are caught below).
_LETTER = re.compile(r"[^\W\d_]")


def _mostly_symbols(text: str) -> bool:
    if _BOX_DRAWING.search(text):
        return True  # box-drawing characters: a diagram
    visible = len(_VISIBLE.findall(text))
    found = _LETTER.findall(text)
    # Only numerals such as "½" match without being letters; counting one by one is for those.
    letters = len(found) if "".join(found).isalpha() or not found else sum(c.isalpha() for c in found)
    return not visible or letters / visible < _MIN_LETTER_SHARE


class ExtractiveGenerator:
    def __init__(self, max_sentences: int = 4, min_overlap: float = 0.2) -> None:
        if max_sentences < 1:
            raise InvalidGeneratorArgument(f"max_sentences must be at least 1, got {max_sentences}")
        if not math.isfinite(min_overlap) or not 0.0 < min_overlap <= 1.0:
            raise InvalidGeneratorArgument(f"min_overlap must be within (0, 1], got {min_overlap}")
        self.max_sentences = max_sentences
        self.min_overlap = min_overlap

    def _candidates(self, question: str, passages: Sequence[Passage]) -> list[_Candidate]:
        sentences = [[(s, terms(s.text)) for s in split_sentences(p.text)] for p in passages]
        split = [(p, s, t) for p, of_passage in zip(passages, sentences, strict=True) for s, t in of_passage]
        # Document frequency over passages, not sentences: a term every passage mentions says little.
        # A passage's terms are its sentences' (sentences hold every word of it), so each word is
        # stemmed once: stemming is most of an answer's time.
        weights = idf_weights({t for _, ts in of_passage for t in ts} for of_passage in sentences)
        score_of = overlap_with(terms(question), weights)
        candidates = []
        for passage, sentence, sentence_terms in split:
            # The score first: most sentences miss the question, and the checks below scan the text.
            score = score_of(sentence_terms)
            if score < self.min_overlap:
                continue
            if sentence.text.lstrip().startswith("#") or len(re.findall(r"\w+", sentence.text)) < _MIN_WORDS:
                continue  # headings and fragments read badly as an answer
            if _mostly_symbols(sentence.text):
                continue  # diagrams, tables and heading underlines are not prose
            candidates.append(_Candidate(passage, sentence, frozenset(sentence_terms), score))
        return candidates

    def _select(self, candidates: list[_Candidate]) -> list[_Candidate]:
        if not candidates:
            return []
        ranked = sorted(candidates, key=lambda c: (-c.score, c.passage.number, c.sentence.start))
        floor = ranked[0].score * _RELATIVE_CUTOFF
        chosen: list[_Candidate] = []
        for candidate in ranked:
            if len(chosen) == self.max_sentences or candidate.score < floor:
                break
            if not _is_duplicate(candidate, chosen):
                chosen.append(candidate)
        # Read in source order: passage rank first, then position inside the passage.
        return sorted(chosen, key=lambda c: (c.passage.number, c.sentence.start))

    def _answer(self, question: str, passages: Sequence[Passage]) -> tuple[list[str], Answer]:
        index_passages(passages)  # validate numbering before quoting anything
        chosen = self._select(self._candidates(question, passages))
        if not chosen:
            return [Answer.not_found().text], Answer.not_found()
        pieces: list[str] = []
        citations: list[Citation] = []
        for i, candidate in enumerate(chosen):
            # Line breaks inside a quoted sentence would break the answer's flow; the quote keeps them.
            flat = " ".join(candidate.sentence.text.split())
            pieces.append(f"{'' if i == 0 else ' '}{flat} [{candidate.passage.number}]")
            sentence = candidate.sentence
            citations.append(citation_for(candidate.passage, sentence.start, sentence.end))
        return pieces, Answer("".join(pieces), citations, grounded=True)

    # Templates shape a language model's prompt; quoting sentences has none, so they are ignored.
    async def generate(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> Answer:
        return self._answer(question, passages)[1]

    async def stream(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> AsyncIterator[str]:
        for piece in self._answer(question, passages)[0]:
            yield piece
