"""Merging the keyword and the vector result lists into one ranking.

Both functions take each list in the order its retriever returned it (best first). The vector list
ranks chunks; the keyword list ranks documents (each hit is a document's best-matching chunk, scored
as the whole document). So a keyword hit is merged into its document's best vector hit, whichever
chunk that is, and the document's keyword and vector evidence add up on one entry that cites the
chunk the vector search found closest; a keyword hit whose document the vector list lacks is listed
with its own chunk. (A second keyword hit of one document, from a keyword list that ranks chunks,
merges with the same chunk of the vector list, or is listed on its own.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from ragstream.queries.readmodels.base import Hit, IndexedChunk
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
    chunk: IndexedChunk
    bm25_score: float | None = None
    bm25_rank: int | None = None
    vector_score: float | None = None
    vector_rank: int | None = None


def _ranked(hits: Sequence[Hit]) -> list[tuple[int, Hit]]:
    """1-based ranks; a repeated chunk keeps its first (best) position and later copies are ignored."""
    seen: set[str] = set()
    ranked: list[tuple[int, Hit]] = []
    for hit in hits:
        if hit.chunk.chunk_id not in seen:
            seen.add(hit.chunk.chunk_id)
            ranked.append((len(ranked) + 1, hit))
    return ranked


def _document(chunk: IndexedChunk) -> tuple[str, str]:
    return chunk.tenant, chunk.document_id


def _merge(bm25: Sequence[Hit], vector: Sequence[Hit]) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    # Each document's best vector hit: where that document's keyword hit lands.
    lead: dict[tuple[str, str], _Entry] = {}
    for rank, hit in _ranked(vector):
        entry = _Entry(hit.chunk, vector_score=hit.score, vector_rank=rank)
        entries[hit.chunk.chunk_id] = entry
        lead.setdefault(_document(hit.chunk), entry)
    for rank, hit in _ranked(bm25):
        same = entries.get(hit.chunk.chunk_id)
        document_lead = lead.get(_document(hit.chunk))
        if document_lead is not None and document_lead.bm25_rank is None:
            target = document_lead
        elif same is not None and same.bm25_rank is None:
            target = same
        else:
            target = entries.setdefault(hit.chunk.chunk_id, _Entry(hit.chunk))
        target.bm25_score, target.bm25_rank = hit.score, rank
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
    entries: dict[str, _Entry],
    score: Callable[[_Entry], float],
    tie_break: Callable[[_Entry], tuple[float, ...]],
) -> list[FusedHit]:
    scored = [(score(e), e) for e in entries.values()]
    scored.sort(key=lambda item: (-item[0], tie_break(item[1]), item[1].chunk.chunk_id))
    return [FusedHit(e.chunk, s, e.bm25_score, e.bm25_rank, e.vector_score, e.vector_rank) for s, e in scored]


def reciprocal_rank_fusion(
    bm25: Sequence[Hit],
    vector: Sequence[Hit],
    k: int = 60,
    weights: tuple[float, float] = (1.0, 1.0),
) -> list[FusedHit]:
    """score = w_bm25 / (k + bm25_rank) + w_vector / (k + vector_rank); a missing rank contributes 0.

    Equal fused scores are ordered by chunk_id only, as RRF has no notion of a dominant retriever.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidFusionArgument(f"rrf k must be a positive integer, got {k!r}")
    if len(weights) != 2 or any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) == 0:
        raise InvalidFusionArgument(
            f"rrf weights must be two finite, non-negative numbers, not both zero; got {weights!r}"
        )
    w_bm25, w_vector = weights

    def score(e: _Entry) -> float:
        total = 0.0
        if e.bm25_rank is not None:
            total += w_bm25 / (k + e.bm25_rank)
        if e.vector_rank is not None:
            total += w_vector / (k + e.vector_rank)
        return total

    return _finish(_merge(bm25, vector), score, _no_tie_break)


def _normalised(scores: dict[str, float], how: Normalization) -> tuple[dict[str, float], float]:
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
) -> list[FusedHit]:
    """score = alpha * norm(vector) + (1 - alpha) * norm(bm25), normalised per query (`Normalization`).

    BM25 and cosine scores live on unrelated scales, hence the normalisation; a chunk one retriever
    missed gets that retriever's lowest normalised value (0 for min-max).
    """
    if not math.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise InvalidFusionArgument(f"convex alpha must be within [0, 1], got {alpha!r}")
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

    def score(e: _Entry) -> float:
        cid = e.chunk.chunk_id
        return alpha * norm_vector.get(cid, missing_vector) + (1.0 - alpha) * norm_bm25.get(cid, missing_bm25)

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
) -> list[FusedHit]:
    """Dispatch on `method`; accepts the enum or its string value (as read from settings or a request)."""
    try:
        chosen = FusionMethod(method)
    except ValueError:
        allowed = ", ".join(m.value for m in FusionMethod)
        raise InvalidFusionArgument(f"unknown fusion method {method!r}; expected one of: {allowed}") from None
    if chosen is FusionMethod.RRF:
        return reciprocal_rank_fusion(bm25, vector, k=rrf_k, weights=rrf_weights)
    return convex_combination(bm25, vector, alpha=alpha, normalization=normalization)


def paginate(hits: Sequence[T], offset: int, limit: int) -> list[T]:
    """The page of `limit` items starting at `offset`; past the end is an empty page, not an error."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidFusionArgument(f"offset must be a non-negative integer, got {offset!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidFusionArgument(f"limit must be a positive integer, got {limit!r}")
    return list(hits[offset : offset + limit])
