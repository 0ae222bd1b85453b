"""Sentence splitting and term normalisation shared by the generators.

Deliberately crude (regexes, a suffix stripper, a short stopword list): it only has to decide which
sentences talk about the question's terms, and it must never lose track of character offsets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# A boundary is terminal punctuation (plus closing quotes/brackets, not after "e.g"/"i.e"/"vs") followed
# by whitespace, a blank line, or a line break before something that starts a new block (list item,
# heading, quote). A markdown heading line is a sentence of its own: it rarely ends with punctuation.
_BOUNDARY = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)([.!?]+[\"')\]]*)\s+"
    r"|\n[ \t]*\n\s*"
    r"|\n(?=[ \t]*(?:[-*+#>]|\d+[.)])\s)"
    r"|^[ \t]*(#{1,6}[ \t][^\n]*)\n",
    re.MULTILINE,
)
_WORD = re.compile(r"[^\W_]+")

_STOPWORD_LIST = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves tell explain describe please give show know
"""
STOPWORDS = frozenset(_STOPWORD_LIST.split())

# Longest first; replacement applies only when at least three characters of stem remain, so short words
# ("used", "bus") survive intact.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ations", ""),
    ("ation", ""),
    ("ments", ""),
    ("ment", ""),
    ("ness", ""),
    ("ingly", ""),
    ("edly", ""),
    ("ings", ""),
    ("ing", ""),
    ("sses", "ss"),
    ("ies", "y"),
    ("ied", "y"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("xes", "x"),
    ("ers", ""),
    ("er", ""),
    ("ed", ""),
    ("ly", ""),
    ("s", ""),
)


@dataclass(frozen=True)
class Sentence:
    # Offsets into the text the sentence was split from; text == source[start:end].
    start: int
    end: int
    text: str


def split_sentences(text: str) -> list[Sentence]:
    """Sentences with surrounding whitespace trimmed, keeping exact offsets into `text`."""
    sentences: list[Sentence] = []
    cursor = 0

    def emit(start: int, end: int) -> None:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            sentences.append(Sentence(start, end, text[start:end]))

    for match in _BOUNDARY.finditer(text):
        if match.group(2) is not None:
            emit(cursor, match.start(2))
            emit(match.start(2), match.end(2))
        else:
            # The punctuation belongs to the sentence it ends; the whitespace after it belongs to no one.
            emit(cursor, match.end(1) if match.group(1) is not None else match.start())
        cursor = match.end()
    emit(cursor, len(text))
    return sentences


# The suffixes a word can end with, by its last character, in _SUFFIXES' order: a word is checked
# against those alone (most words end in a character no suffix ends in), as stemming is most of
# an extractive answer's time.
_SUFFIXES_BY_LAST = {
    last: tuple(pair for pair in _SUFFIXES if pair[0][-1] == last) for last in {s[-1] for s, _ in _SUFFIXES}
}


def stem(word: str) -> str:
    for suffix, replacement in _SUFFIXES_BY_LAST.get(word[-1:], ()):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    # "configure"/"configured"/"configuration" all end up as "configur".
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Content terms: lowercased, stopwords removed, stemmed (duplicates kept, in order)."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def idf_weights(documents: Iterable[Iterable[str]]) -> dict[str, float]:
    """Smoothed IDF: rare terms weigh more, a term present everywhere still weighs something."""
    docs = [set(d) for d in documents]
    df: dict[str, int] = {}
    for doc in docs:
        for term in doc:
            df[term] = df.get(term, 0) + 1
    n = len(docs)
    return {term: 1.0 + math.log((n + 1) / (count + 1)) for term, count in df.items()}


def overlap_with(query_terms: Sequence[str], weights: dict[str, float]) -> Callable[[Iterable[str]], float]:
    """Scores a candidate by the share of the query's (IDF-weighted) content terms it contains, in
    [0, 1]. The query's side (its weights, their total) is worked out once, for scoring every
    sentence of the passages against it.

    A query term absent from `weights` gets the highest weight seen, as it is rarer than anything indexed.
    """
    unique = set(query_terms)
    if not unique:
        return lambda candidate_terms: 0.0
    default = max(weights.values(), default=1.0)
    total = sum(weights.get(t, default) for t in unique)

    def score(candidate_terms: Iterable[str]) -> float:
        present = unique.intersection(candidate_terms)
        return sum(weights.get(t, default) for t in present) / total

    return score
