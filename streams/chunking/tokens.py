"""Cheap token counting and the boundaries (sentences, words, tokens) the chunker may cut at.

Chunking runs on every document change, so counting must cost far less than embedding: one regex
stands in for the embedding model's wordpiece tokenizer. Measured against the all-MiniLM-L6-v2
tokenizer it over-counts English prose by about 15% and is about even on code-heavy docs, where one
chunk in twenty holds up to ~20% more real tokens than counted.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Protocol

# Ideographs, kana and hangul: wordpiece vocabularies hold these one character at a time.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# Every match is one token and every non-whitespace character belongs to exactly one match, so the
# count of a slice cut at token starts is the sum of the counts of its parts. Long words count one
# token per six characters and numbers one per two digits, roughly how wordpiece splits them.
TOKEN_RE = re.compile(rf"[{_CJK}]|\d{{1,2}}|[^\W\d{_CJK}]{{1,6}}|[^\w\s]")
# A sentence ends at terminal punctuation (plus closing quotes or brackets) followed by whitespace,
# or at full-width CJK terminal punctuation, which is not followed by a space.
_SENTENCE_END_RE = re.compile(
    r"(?:[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*(\s+)"
    r"|[\u3002\uff01\uff1f]+[\u300d\u300f\u201d\u2019)\uff09]*(\s*))(?=\S)"
)


def count_tokens(text: str) -> int:
    """Approximate wordpiece token count of `text` (about 1.6 per English word)."""
    return len(TOKEN_RE.findall(text))


def token_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Offsets of each token of text[start:end]."""
    return [match.span() for match in TOKEN_RE.finditer(text, start, end)]


class TokenCounter(Protocol):
    """What the chunker counts its budget in: each token's offsets in text[start:end]."""

    def spans(self, text: str, start: int, end: int) -> list[tuple[int, int]]: ...


class EstimatedTokens:
    """The regex estimate above: no model needed, about 15% over on English prose."""

    def spans(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        return token_spans(text, start, end)


# The last document's tokens stay with the tokenizer until the next document: ~30 bytes per character
# of text as Python offsets, so a longer text (a book) is encoded slice by slice, as before.
WHOLE_TEXT_MAX_CHARS = 200_000


class ModelTokens:
    """The embedding model's own tokenizer (a `tokenizer.json`, loaded offline), so a chunk within
    budget is never truncated by the encoder. Offsets map every token back onto the text, so the
    chunker still cuts at exact character positions.

    The chunker asks for the tokens of many slices of one document (each block, unit and overlap:
    ~50 calls per bulk document, twice its length in all, two thirds of its chunking time). A
    wordpiece tokenizer never lets a token cross a word or punctuation boundary, so the tokens of a
    slice that starts and ends on such boundaries are exactly the whole text's tokens inside it:
    those come from one encoding of the whole text (`WholeText`). Any other slice, and any tokenizer
    that is not wordpiece over BERT pre-tokens (BPE tokens carry their leading space), is encoded on
    its own, as before.
    """

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer, models, pre_tokenizers

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._sliceable = isinstance(self._tokenizer.pre_tokenizer, pre_tokenizers.BertPreTokenizer) and (
            isinstance(self._tokenizer.model, models.WordPiece)
        )
        self._whole: WholeText | None = None

    def spans(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        if self._sliceable and len(text) <= WHOLE_TEXT_MAX_CHARS:
            whole = self._whole
            if whole is None or whole.text is not text:
                whole = self._whole = WholeText(text, self._encode(text, 0, len(text)))
            found = whole.slice(start, end)
            if found is not None:
                return found
        return self._encode(text, start, end)

    def _encode(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        encoding = self._tokenizer.encode(text[start:end], add_special_tokens=False)
        return [(start + a, start + b) for a, b in encoding.offsets if b > a]


def _bert_punctuation(char: str) -> bool:
    """BERT's pre-tokenizer's punctuation: every ASCII non-alphanumeric symbol and Unicode P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


class WholeText:
    """One encoding of a whole text, answering for slices cut on pre-token boundaries."""

    def __init__(self, text: str, tokens: list[tuple[int, int]]) -> None:
        self.text = text
        self._tokens = tokens
        self._starts = [a for a, _ in tokens]

    def slice(self, start: int, end: int) -> list[tuple[int, int]] | None:
        """The tokens of text[start:end], or None when a cut may fall inside a word."""
        first, last = self._index_at(start), self._index_at(end)
        if first is None or last is None:
            return None
        return self._tokens[first:last]

    def _index_at(self, position: int) -> int | None:
        """The first token at or after `position`, or None unless `position` is a pre-token boundary:
        no token crosses it, and the tokens on either side of it are two pre-tokens (whitespace
        between them, or one is punctuation), not two wordpieces of one word."""
        index = bisect.bisect_left(self._starts, position)
        text = self.text
        if 0 < position < len(text):
            if index > 0 and self._tokens[index - 1][1] > position:
                return None  # a token runs across it
            before, after = text[position - 1], text[position]
            if not (
                before.isspace() or after.isspace() or _bert_punctuation(before) or _bert_punctuation(after)
            ):
                return None
        return index


ESTIMATE = EstimatedTokens()


@lru_cache(maxsize=4)
def token_counter(tokenizer: str) -> TokenCounter:
    """ "" for the estimate, else the path of a model's tokenizer.json."""
    return ModelTokens(Path(tokenizer)) if tokenizer else ESTIMATE


def sentence_starts(text: str, start: int, end: int) -> list[int]:
    """Offsets in text[start:end] where a sentence other than the first begins."""
    starts: list[int] = []
    for match in _SENTENCE_END_RE.finditer(text, start, end):
        # "e.g. this" or "approx. ten" continue the sentence; a new sentence starts upper case.
        if match.group(1) is not None and text[match.end()].islower():
            continue
        starts.append(match.end())
    return starts


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split text[start:end], which has no edge whitespace, into sentences without edge whitespace."""
    spans: list[tuple[int, int]] = []
    current = start
    for next_start in sentence_starts(text, start, end):
        spans.append((current, len(text[current:next_start].rstrip()) + current))
        current = next_start
    spans.append((current, end))
    return spans


def line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Non-blank lines of text[start:end] without edge whitespace: code is split by line, not sentence."""
    spans: list[tuple[int, int]] = []
    for match in re.finditer(r"[^\n]+", text[start:end]):
        line = match.group()
        stripped = line.strip()
        if stripped:
            left = start + match.start() + (len(line) - len(line.lstrip()))
            spans.append((left, left + len(stripped)))
    return spans


def word_pieces(
    text: str, start: int, end: int, max_tokens: int, counter: TokenCounter = ESTIMATE
) -> list[tuple[int, int, int]]:
    """Split text[start:end] into (start, end, tokens) pieces of at most max_tokens, preferring to cut
    between words and cutting inside a word only when one word alone is over budget."""
    tokens = counter.spans(text, start, end)
    pieces: list[tuple[int, int, int]] = []
    first = 0
    while first < len(tokens):
        stop = min(first + max_tokens, len(tokens))
        if stop < len(tokens):
            cut = stop
            # Tokens of one word touch; a gap between two tokens is whitespace, i.e. a word boundary.
            while cut > first and tokens[cut][0] == tokens[cut - 1][1]:
                cut -= 1
            if cut > first:
                stop = cut
        pieces.append((tokens[first][0], tokens[stop - 1][1], stop - first))
        first = stop
    return pieces
