"""Merging the keyword and the vector result lists into one ranking.

Both functions take each list in the order its retriever returned it (best first). The vector list
ranks chunks; the keyword list ranks documents (each hit is a document's best-matching chunk, scored
as the whole document). So a keyword hit is merged into its document's best vector hit, whichever
chunk that is, and the document's keyword and vector evidence add up on one entry that cites the
chunk the vector search found closest; a keyword hit whose document the vector list lacks is listed
with its own chunk. (A second keyword hit of one document, from a keyword list that ranks chunks,
merges with the same chunk of the vector list, or is listed on its own.)

The keyword list may also hold documents whose best chunk is not looked up yet (`DocumentHit`):
`rank` then lists such a document, where the vector list lacks it, as a `FusedDocument`, placed
exactly where its chunk would be (nothing in the ranking depends on which chunk it is), so a caller
looks up chunks only for the documents on the page it returns (`queries.retrieval.page`).

Convex fusion can also add up a document's vector evidence (`sibling_weight`): each further chunk of
a document in the vector list adds that weight times its own normalised score to the document's best
chunk. A document that several passages match is likelier to be about the query than one that a
single passage grazes; its other chunks stay in the ranking as entries of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from ragstream.queries.readmodels.base import DocumentHit, Hit, IndexedChunk
from ragstream.queries.retrieval.exceptions import InvalidFusionArgument

T = TypeVar("T")


@dataclass(frozen=True)
class FusedHit:
    chunk: IndexedChunk
    score: float
    bm25_score: float | None
    bm25_rank: int | None
    vector_score: float | None
    vector_rank: int | None

    @property
    def chunk_id(self) -> str:
        return self.chunk.chunk_id


@dataclass(frozen=True)
class FusedDocument:
    """A keyword-only entry of the ranking whose best chunk is still to be looked up."""

    document: DocumentHit
    score: float
    bm25_score: float
    bm25_rank: int

    def cited_by(self, chunk: IndexedChunk) -> FusedHit:
        return FusedHit(chunk, self.score, self.bm25_score, self.bm25_rank, None, None)


Ranked = FusedHit | FusedDocument


class FusionMethod(StrEnum):
    RRF = "rrf"
    CONVEX = "convex"


class Normalization(StrEnum):
    """How convex fusion puts BM25 and cosine scores on one scale, per query.

    min-max: the list's own minimum and maximum (its best candidate scores 1 and its worst 0, however
    far apart they are); z-score: distance from the list's mean in the list's standard deviations, so
    a retriever whose top hit stands far out of its list outweighs one whose list is flat.
    """

    MIN_MAX = "min-max"
    Z_SCORE = "z-score"


@dataclass
class _Entry:
    # What the entry cites: a chunk, or a document found by the keyword list alone whose chunk is
    # not looked up yet.
    cited: IndexedChunk | DocumentHit
    bm25_score: float | None = None
    bm25_rank: int | None = None
    vector_score: float | None = None
    vector_rank: int | None = None
    # For a further vector hit of a document: the key of that document's best vector hit.
    sibling_of: _Key | None = None

    @property
    def order_key(self) -> tuple[str, str]:
        """The last tie-break: document, then chunk. A document-only entry never ties with
        another entry of its own document (it has none), so its chunk's id is not needed."""
        if isinstance(self.cited, DocumentHit):
            return self.cited.document_id, ""
        return self.cited.document_id, self.cited.chunk_id


# An entry's key: a chunk's id, or a document-only entry's (tenant, document id).
_Key = str | tuple[str, str]


def _document(item: Hit | DocumentHit) -> tuple[str, str]:
    if isinstance(item, DocumentHit):
        return item.tenant, item.document_id
    return item.chunk.tenant, item.chunk.document_id


def _ranked(hits: Sequence[T], key: Callable[[T], _Key]) -> list[tuple[int, _Key, T]]:
    """1-based ranks and keys; a repeated item keeps its first (best) position and later copies are
    ignored."""
    seen: set[_Key] = set()
    ranked: list[tuple[int, _Key, T]] = []
    for hit in hits:
        if (k := key(hit)) not in seen:
            seen.add(k)
            ranked.append((len(ranked) + 1, k, hit))
    return ranked


def _key(item: Hit | DocumentHit) -> _Key:
    return _document(item) if isinstance(item, DocumentHit) else item.chunk.chunk_id


def _merge(bm25: Sequence[Hit | DocumentHit], vector: Sequence[Hit]) -> dict[_Key, _Entry]:
    entries: dict[_Key, _Entry] = {}
    # Each document's best vector hit (its key): where that document's keyword hit lands, and what
    # its further vector hits support.
    lead: dict[tuple[str, str], _Key] = {}
    for rank, key, hit in _ranked(vector, _key):
        entries[key] = entry = _Entry(hit.chunk, vector_score=hit.score, vector_rank=rank)
        best = lead.setdefault(_document(hit), key)
        if best != key:
            entry.sibling_of = best
    for rank, key, item in _ranked(bm25, _key):
        same = entries.get(key)
        lead_key = lead.get(_document(item))
        document_lead = None if lead_key is None else entries[lead_key]
        if document_lead is not None and document_lead.bm25_rank is None:
            target = document_lead
        elif same is not None and same.bm25_rank is None:
            target = same
        else:
            cited = item if isinstance(item, DocumentHit) else item.chunk
            target = entries.setdefault(key, _Entry(cited))
        target.bm25_score, target.bm25_rank = item.score, rank
    return entries


def _no_tie_break(entry: _Entry) -> tuple[float, ...]:
    return ()


def _rank_tie_break(vector_first: bool) -> Callable[[_Entry], tuple[float, ...]]:
    # Equal convex scores are common (a chunk seen by one retriever only, flat normalised scores); falling
    # back to the dominant retriever's rank keeps its order intact before the final chunk_id tie-break.
    def ranks(e: _Entry) -> tuple[float, ...]:
        first, second = (e.vector_rank, e.bm25_rank) if vector_first else (e.bm25_rank, e.vector_rank)
        return (math.inf if first is None else first, math.inf if second is None else second)

    return ranks


def _finish(
    entries: dict[_Key, _Entry],
    score: Callable[[_Key, _Entry], float],
    tie_break: Callable[[_Entry], tuple[float, ...]],
) -> list[Ranked]:
    scored = [(score(key, e), e) for key, e in entries.items()]
    scored.sort(key=lambda item: (-item[0], tie_break(item[1]), item[1].order_key))
    return [_fused(s, e) for s, e in scored]


def _fused(score: float, e: _Entry) -> Ranked:
    if isinstance(e.cited, IndexedChunk):
        return FusedHit(e.cited, score, e.bm25_score, e.bm25_rank, e.vector_score, e.vector_rank)
    # A document-only entry comes from the keyword list alone, so it has its keyword score and rank.
    assert e.bm25_score is not None and e.bm25_rank is not None
    return FusedDocument(e.cited, score, e.bm25_score, e.bm25_rank)


def _chunks_only(ranked: list[Ranked]) -> list[FusedHit]:
    """The ranking of two lists of chunk hits, in which every entry has its chunk."""
    fused = [r for r in ranked if isinstance(r, FusedHit)]
    assert len(fused) == len(ranked), "a keyword list of chunk hits leaves no document-only entry"
    return fused


def reciprocal_rank_fusion(
    bm25: Sequence[Hit],
    vector: Sequence[Hit],
    k: int = 60,
    weights: tuple[float, float] = (1.0, 1.0),
) -> list[FusedHit]:
    """score = w_bm25 / (k + bm25_rank) + w_vector / (k + vector_rank); a missing rank contributes 0.

    Equal fused scores are ordered by document and chunk id only, as RRF has no notion of a
    dominant retriever.
    """
    return _chunks_only(_rrf(bm25, vector, k, weights))


def _rrf(
    bm25: Sequence[Hit | DocumentHit], vector: Sequence[Hit], k: int, weights: tuple[float, float]
) -> list[Ranked]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidFusionArgument(f"rrf k must be a positive integer, got {k!r}")
    if len(weights) != 2 or any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) == 0:
        raise InvalidFusionArgument(
            f"rrf weights must be two finite, non-negative numbers, not both zero; got {weights!r}"
        )
    w_bm25, w_vector = weights

    def score(_key: _Key, e: _Entry) -> float:
        total = 0.0
        if e.bm25_rank is not None:
            total += w_bm25 / (k + e.bm25_rank)
        if e.vector_rank is not None:
            total += w_vector / (k + e.vector_rank)
        return total

    return _finish(_merge(bm25, vector), score, _no_tie_break)


def _normalised(scores: dict[_Key, float], how: Normalization) -> tuple[dict[_Key, float], float]:
    """The list's scores on a common scale, and the value a candidate missing from the list gets."""
    if not scores:
        return {}, 0.0
    values = scores.values()
    high = max(values)
    if how is Normalization.Z_SCORE:
        mean = math.fsum(values) / len(scores)
        sd = math.sqrt(math.fsum((s - mean) ** 2 for s in values) / len(scores))
        if sd == 0.0:
            return dict.fromkeys(scores, 1.0), 0.0
        z = {cid: (s - mean) / sd for cid, s in scores.items()}
        # A candidate this retriever did not return ranks below everything it did.
        return z, min(z.values())
    low = min(values)
    if high == low:
        # Nothing to spread: a lone hit (or a flat list) is the best this retriever has, so it counts fully.
        return dict.fromkeys(scores, 1.0), 0.0
    return {cid: (s - low) / (high - low) for cid, s in scores.items()}, 0.0


def convex_combination(
    bm25: Sequence[Hit],
    vector: Sequence[Hit],
    alpha: float = 0.5,
    normalization: Normalization | str = Normalization.MIN_MAX,
    sibling_weight: float = 0.0,
) -> list[FusedHit]:
    """score = alpha * (norm(vector) + sibling_weight * support) + (1 - alpha) * norm(bm25), normalised
    per query (`Normalization`); support, on a document's best vector hit only, is the sum of its
    other vector hits' normalised scores above the list's floor.

    BM25 and cosine scores live on unrelated scales, hence the normalisation; a chunk one retriever
    missed gets that retriever's lowest normalised value (0 for min-max).
    """
    return _chunks_only(_convex(bm25, vector, alpha, normalization, sibling_weight))


def _sibling_support(
    entries: dict[_Key, _Entry], norm_vector: dict[_Key, float], floor: float, weight: float
) -> dict[_Key, float]:
    """What each document's other vector hits add to its best one: weight times how far each scores
    above the floor a missing chunk gets (0 for min-max, the lowest z-score for z-score)."""
    support: dict[_Key, float] = {}
    for key, e in entries.items():
        if e.sibling_of is not None:
            support[e.sibling_of] = support.get(e.sibling_of, 0.0) + weight * (norm_vector[key] - floor)
    return support


def _convex(
    bm25: Sequence[Hit | DocumentHit],
    vector: Sequence[Hit],
    alpha: float,
    normalization: Normalization | str,
    sibling_weight: float = 0.0,
) -> list[Ranked]:
    if not math.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise InvalidFusionArgument(f"convex alpha must be within [0, 1], got {alpha!r}")
    if not math.isfinite(sibling_weight) or not 0.0 <= sibling_weight <= 1.0:
        raise InvalidFusionArgument(f"sibling weight must be within [0, 1], got {sibling_weight!r}")
    try:
        how = Normalization(normalization)
    except ValueError:
        allowed = ", ".join(n.value for n in Normalization)
        raise InvalidFusionArgument(
            f"unknown normalization {normalization!r}; expected one of: {allowed}"
        ) from None
    for name, hits in (("bm25", bm25), ("vector", vector)):
        if any(not math.isfinite(h.score) for h in hits):
            raise InvalidFusionArgument(f"{name} hits contain a non-finite score")
    entries = _merge(bm25, vector)
    norm_bm25, missing_bm25 = _normalised(
        {c: e.bm25_score for c, e in entries.items() if e.bm25_score is not None}, how
    )
    norm_vector, missing_vector = _normalised(
        {c: e.vector_score for c, e in entries.items() if e.vector_score is not None}, how
    )

    support = _sibling_support(entries, norm_vector, missing_vector, sibling_weight)

    def score(key: _Key, e: _Entry) -> float:
        dense = norm_vector.get(key, missing_vector) + support.get(key, 0.0)
        return alpha * dense + (1.0 - alpha) * norm_bm25.get(key, missing_bm25)

    return _finish(entries, score, _rank_tie_break(vector_first=alpha >= 0.5))


def fuse(
    method: FusionMethod | str,
    bm25: Sequence[Hit],
    vector: Sequence[Hit],
    *,
    rrf_k: int = 60,
    alpha: float = 0.5,
    rrf_weights: tuple[float, float] = (1.0, 1.0),
    normalization: Normalization | str = Normalization.MIN_MAX,
    sibling_weight: float = 0.0,
) -> list[FusedHit]:
    """Dispatch on `method`; accepts the enum or its string value (as read from settings or a request)."""
    return _chunks_only(
        rank(
            method,
            bm25,
            vector,
            rrf_k=rrf_k,
            alpha=alpha,
            rrf_weights=rrf_weights,
            normalization=normalization,
            sibling_weight=sibling_weight,
        )
    )


def rank(
    method: FusionMethod | str,
    bm25: Sequence[Hit | DocumentHit],
    vector: Sequence[Hit],
    *,
    rrf_k: int = 60,
    alpha: float = 0.5,
    rrf_weights: tuple[float, float] = (1.0, 1.0),
    normalization: Normalization | str = Normalization.MIN_MAX,
    sibling_weight: float = 0.0,
) -> list[Ranked]:
    """`fuse` for a keyword list that may hold documents not yet cited by a chunk: the same
    ranking, with each keyword-only document listed as a `FusedDocument`."""
    try:
        chosen = FusionMethod(method)
    except ValueError:
        allowed = ", ".join(m.value for m in FusionMethod)
        raise InvalidFusionArgument(f"unknown fusion method {method!r}; expected one of: {allowed}") from None
    if chosen is FusionMethod.RRF:
        return _rrf(bm25, vector, rrf_k, rrf_weights)
    return _convex(bm25, vector, alpha, normalization, sibling_weight)


def paginate(hits: Sequence[T], offset: int, limit: int) -> list[T]:
    """The page of `limit` items starting at `offset`; past the end is an empty page, not an error."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidFusionArgument(f"offset must be a non-negative integer, got {offset!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidFusionArgument(f"limit must be a positive integer, got {limit!r}")
    return list(hits[offset : offset + limit])
