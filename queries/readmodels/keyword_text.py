"""What the keyword read models index and how they read a query, shared by every backend so that
Tantivy and OpenSearch rank alike.

BM25 scores *documents*: each document is indexed once more as a whole (title and text in one
field, as BEIR's "flat" BM25 baselines do), and a search ranks documents by that entry, then hands
back each document's best-matching chunk as the hit, so citations still point at a chunk's span.
Scoring chunks alone loses BM25's length normalisation over the document (a short abstract split in
three is three short, unrelated texts), counts one document's chunks as separate documents in the
term statistics, and lets one long document fill the result list with its chunks.

A query is bag-of-words: the words of the user's text, lowercased, with no operators, fields or
boosts (a claim such as "IL-6 is not expressed" must not turn into a negation), plus any
"quoted phrase", which matches adjacent words only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ragstream.queries.readmodels.base import DocumentHit, Hit, IndexedChunk, SearchFilter
from ragstream.queries.readmodels.terms import scoped_key

# Lucene's English stop words (OpenSearch's `_english_`), and "s": Tantivy's tokenizer splits
# "cell's" into "cell" and "s", where OpenSearch's possessive filter drops the "'s".
STOP_WORDS: tuple[str, ...] = (
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with", "s",
)  # fmt: skip
# Tokens longer than this are dropped by both backends (base64 blobs, URLs without separators).
MAX_TOKEN_CHARS = 40
# The chunk number of a document's whole-document entry; chunks are numbered from 0.
DOCUMENT_ENTRY = -1
KIND_CHUNK = "chunk"
KIND_DOCUMENT = "document"

_WORD = re.compile(r"\w+")
_PHRASE = re.compile(r'"([^"]*)"')
_MAX_WORDS = 256


@dataclass(frozen=True)
class KeywordQuery:
    # Space-separated lowercase words, none of them an operator of any backend's query language.
    words: str
    # Quoted phrases, likewise reduced to their words.
    phrases: tuple[str, ...]


def parse_keyword_query(text: str) -> KeywordQuery | None:
    """The words and quoted phrases of `text`; None when it has no word at all."""
    phrases = tuple(
        " ".join(words) for words in (_WORD.findall(p.lower()) for p in _PHRASE.findall(text)) if words
    )
    rest = _PHRASE.sub(" ", text)
    words = _WORD.findall(rest.lower())[:_MAX_WORDS]
    if not words and not phrases:
        return None
    return KeywordQuery(" ".join(words), phrases)


def document_text(chunks: Sequence[IndexedChunk]) -> str:
    """Title and text of the document the chunks make up, each character once.

    Consecutive chunks overlap (the chunker repeats a tail), so the overlap is dropped where the spans
    say so and the texts agree; any other chunk is joined whole.
    """
    ordered = sorted(chunks, key=lambda chunk: chunk.chunk_number)
    parts: list[str] = [ordered[0].title] if ordered and ordered[0].title else []
    covered = -1  # end of the previous chunk's span, while the previous part is that chunk's text
    for chunk in ordered:
        overlap = covered - chunk.start
        exact = chunk.end - chunk.start == len(chunk.text)
        if exact and 0 < overlap <= len(chunk.text) and parts[-1].endswith(chunk.text[:overlap]):
            parts[-1] += chunk.text[overlap:]
        else:
            parts.append(chunk.text)
        covered = chunk.end if exact else -1
    return "\n".join(parts)


def rank_by_document(
    documents: Sequence[DocumentHit],
    chunks_best_first: Sequence[IndexedChunk],
    stored_chunks: Callable[[list[str]], Iterable[IndexedChunk]],
) -> list[Hit]:
    """One hit per document found (best first): the document's best-matching chunk, carrying the
    document's score. A document none of whose chunks matched (a phrase across a chunk boundary) is
    cited by its first chunk among those `stored_chunks` gives for its scoped key (in version and
    chunk order); one with no chunk left (deleted since it was found) is dropped. Where the
    document's version is known, only chunks of that version cite it (a stale write may have left
    chunks of an older one)."""
    keys = [scoped_key(doc.tenant, doc.document_id) for doc in documents]
    versions = {key: doc.version for key, doc in zip(keys, documents, strict=True)}

    def current(chunk: IndexedChunk) -> bool:
        version = versions.get(scoped_key(chunk.tenant, chunk.document_id))
        return version is None or chunk.version == version

    best = first_per_document(filter(current, chunks_best_first))
    missing = [key for key in keys if key not in best]
    if missing:
        best.update(first_per_document(filter(current, stored_chunks(missing))))
    return [Hit(best[key], doc.score) for key, doc in zip(keys, documents, strict=True) if key in best]


def first_per_document(chunks: Iterable[IndexedChunk]) -> dict[str, IndexedChunk]:
    """Each document's first chunk in the order given, by scoped key."""
    first: dict[str, IndexedChunk] = {}
    for chunk in chunks:
        first.setdefault(scoped_key(chunk.tenant, chunk.document_id), chunk)
    return first


def keyword_query(query: str, flt: SearchFilter, limit: int) -> KeywordQuery | None:
    """The parsed query, or None when the search cannot find anything (nothing asked for, no word
    in the text, an empty list of documents to search in). Checked before any backend is asked:
    tantivy panics on a limit of 0 rather than returning nothing."""
    if limit <= 0 or (flt.document_ids is not None and not flt.document_ids):
        return None
    return parse_keyword_query(query)
