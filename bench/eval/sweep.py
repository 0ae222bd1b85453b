"""Fusion parameter sweep without re-querying: the BM25 and dense runs already hold each retriever's
top-100 list with its scores, which is exactly what the query service fuses for a 100-deep hybrid
page, so re-fusing them with the service's own `fuse` reproduces its hybrid ranking for any setting.

Cutting both lists to the configured candidate depth first reproduces what an ordinary page (limit at
most `candidates`) fuses: convex min-max normalisation in particular depends on that depth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ragstream.bench.eval.metrics import Qrels, per_query
from ragstream.bench.eval.retrieve import DEPTH, ModeRun
from ragstream.queries.retrieval.fusion import FusionMethod, Normalization, fuse, paginate

RRF_KS = (1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 200)
# Finer where the optimum has been (0.4-0.6 on both development sets).
ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0)
SIBLING_WEIGHTS = (0.0, 0.1, 0.2, 0.3)


@dataclass(frozen=True)
class FusionSetting:
    fusion: str
    rrf_k: int = 60
    alpha: float = 0.5
    normalization: str = Normalization.MIN_MAX.value
    sibling_weight: float = 0.0

    def as_settings(self) -> dict[str, Any]:
        """The fields as an eval report's settings name them."""
        return {
            "fusion": self.fusion,
            "rrf_k": self.rrf_k,
            "alpha": self.alpha,
            "normalization": self.normalization,
            "sibling_weight": self.sibling_weight,
        }

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> FusionSetting:
        """The setting an eval report's row names; a report saved before a field existed lacks it."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})

    @property
    def label(self) -> str:
        if self.fusion == FusionMethod.RRF:
            return f"rrf k={self.rrf_k}"
        # min-max was the only normalisation once; its label stays as earlier reports print it.
        how = "" if self.normalization == Normalization.MIN_MAX else f" {self.normalization}"
        siblings = f" siblings={self.sibling_weight:.2f}" if self.sibling_weight else ""
        return f"convex{how} alpha={self.alpha:.2f}{siblings}"


def default_grid() -> list[FusionSetting]:
    return [FusionSetting("rrf", rrf_k=k) for k in RRF_KS] + [
        FusionSetting("convex", alpha=a, normalization=n.value, sibling_weight=w)
        for n in Normalization
        for w in SIBLING_WEIGHTS
        for a in ALPHAS
    ]


def fused_rankings(
    bm25: ModeRun, dense: ModeRun, setting: FusionSetting, depth: int = DEPTH
) -> dict[str, list[str]]:
    """Document rankings of the hybrid mode for `setting`, fusing each retriever's top `depth`."""
    rankings = {}
    for query in bm25.hits.keys() | dense.hits.keys():
        lexical = [h.as_hit() for h in bm25.hits.get(query, [])[:depth]]
        vector = [h.as_hit() for h in dense.hits.get(query, [])[:depth]]
        fused = fuse(
            setting.fusion, lexical, vector, rrf_k=setting.rrf_k, alpha=setting.alpha,
            normalization=setting.normalization, sibling_weight=setting.sibling_weight,
        )  # fmt: skip
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


def _score_groups(ranked: Sequence[tuple[str, float]]) -> list[frozenset[str]]:
    """Documents grouped by equal score (rounded to float32 precision, as served), best first."""
    groups: list[tuple[float, set[str]]] = []
    for document, score in ranked:
        key = float(f"{score:.6g}")
        if groups and groups[-1][0] == key:
            groups[-1][1].add(document)
        else:
            groups.append((key, {document}))
    return [frozenset(members) for _, members in groups]


def _documents_with_scores(hits: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    seen: set[str] = set()
    out = []
    for document, score in hits:
        if document not in seen:
            seen.add(document)
            out.append((document, score))
    return out


def refusion_check(
    bm25: ModeRun, dense: ModeRun, hybrid: ModeRun, served: FusionSetting
) -> dict[str, object]:
    """Does re-fusing the BM25 and dense runs with the query service's `fuse` give the hybrid ranking
    the service served? Per query: the same ranking; the same but for the order of documents with
    equal fused scores (a tie the two orders break differently); or a real difference, counted by
    its cause where one is visible (the served page holds a document neither run holds)."""
    same = ties = missing = other = 0
    examples: list[str] = []
    for query, served_hits in hybrid.hits.items():
        lexical = [h.as_hit() for h in bm25.hits.get(query, [])]
        vector = [h.as_hit() for h in dense.hits.get(query, [])]
        fused = fuse(
            served.fusion, lexical, vector, rrf_k=served.rrf_k, alpha=served.alpha,
            normalization=served.normalization, sibling_weight=served.sibling_weight,
        )  # fmt: skip
        local = _documents_with_scores([(h.chunk.document_id, h.score) for h in paginate(fused, 0, DEPTH)])
        remote = _documents_with_scores([(h.document_id, h.score) for h in served_hits])
        if [d for d, _ in local] == [d for d, _ in remote]:
            same += 1
        elif _score_groups(local) == _score_groups(remote):
            ties += 1
        elif {d for d, _ in remote} - {d for d, _ in local}:
            missing += 1
        else:
            other += 1
            if len(examples) < 3:
                examples.append(query)
    total = max(1, len(hybrid.hits))
    return {
        "check": "local re-fusion equals served hybrid ranking",
        "fraction": same / total,
        "equal_but_for_tie_order": ties / total,
        "served_documents_missing_from_the_runs": missing / total,
        "different": other / total,
        "different_examples": examples,
    }
