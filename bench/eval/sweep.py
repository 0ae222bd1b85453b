"""Fusion parameter sweep without re-querying: the BM25 and dense runs already hold each retriever's
top-100 list with its scores, which is exactly what the query service fuses for a 100-deep hybrid
page, so re-fusing them with the service's own `fuse` reproduces its hybrid ranking for any setting.

Cutting both lists to the configured candidate depth first reproduces what an ordinary page (limit at
most `candidates`) fuses: convex min-max normalisation in particular depends on that depth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ragstream.bench.eval.metrics import Qrels, per_query
from ragstream.bench.eval.retrieve import DEPTH, ModeRun
from ragstream.queries.retrieval.fusion import FusionMethod, fuse, paginate

RRF_KS = (1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 200)
ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class FusionSetting:
    fusion: str
    rrf_k: int = 60
    alpha: float = 0.5

    @property
    def label(self) -> str:
        return f"rrf k={self.rrf_k}" if self.fusion == FusionMethod.RRF else f"convex alpha={self.alpha:.2f}"


def default_grid() -> list[FusionSetting]:
    return [FusionSetting("rrf", rrf_k=k) for k in RRF_KS] + [
        FusionSetting("convex", alpha=a) for a in ALPHAS
    ]


def fused_rankings(
    bm25: ModeRun, dense: ModeRun, setting: FusionSetting, depth: int = DEPTH
) -> dict[str, list[str]]:
    """Document rankings of the hybrid mode for `setting`, fusing each retriever's top `depth`."""
    rankings = {}
    for query in bm25.hits.keys() | dense.hits.keys():
        lexical = [h.as_hit() for h in bm25.hits.get(query, [])[:depth]]
        vector = [h.as_hit() for h in dense.hits.get(query, [])[:depth]]
        fused = fuse(setting.fusion, lexical, vector, rrf_k=setting.rrf_k, alpha=setting.alpha)
        rankings[query] = [h.chunk.document_id for h in paginate(fused, 0, DEPTH)]
    return rankings


def sweep(
    bm25: ModeRun,
    dense: ModeRun,
    qrels: Mapping[str, Qrels],
    grid: Sequence[FusionSetting],
    depth: int = DEPTH,
) -> list[tuple[FusionSetting, dict[str, dict[str, float]]]]:
    """Per-query scores of every setting of `grid`."""
    return [(s, per_query(fused_rankings(bm25, dense, s, depth), qrels)) for s in grid]
