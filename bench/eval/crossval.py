"""Choosing a fusion setting without fooling ourselves: k-fold cross-validation over the queries.

Each fold's setting is the best (mean nDCG@10) on the other folds' queries and is scored on the
fold's own, so the reported figure is the mean of held-out scores (with its spread over folds), not
the best in-sample point of a grid tuned on the very queries it reports.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")
METRIC = "ndcg@10"


@dataclass(frozen=True)
class Fold(Generic[S]):
    chosen: S
    # Mean nDCG@10 of the chosen setting on the fold's held-out queries, and on the others.
    held_out: float
    in_sample: float
    queries: int


@dataclass(frozen=True)
class CrossValidation(Generic[S]):
    folds: list[Fold[S]]

    @property
    def mean(self) -> float:
        return statistics.fmean(f.held_out for f in self.folds)

    @property
    def spread(self) -> float:
        """Standard deviation of the held-out means over the folds."""
        return statistics.stdev(f.held_out for f in self.folds) if len(self.folds) > 1 else 0.0


def folds_of(queries: Sequence[str], k: int) -> list[list[str]]:
    """A fixed assignment (by a hash of the query id), so reruns and other runs share the folds."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    ordered = sorted(queries, key=lambda q: hashlib.sha256(q.encode()).hexdigest())
    return [ordered[i::k] for i in range(k)]


def _mean(scores: Mapping[str, float], queries: Sequence[str]) -> float:
    return statistics.fmean(scores[q] for q in queries) if queries else 0.0


def cross_validate(per_setting: Sequence[tuple[S, Mapping[str, float]]], k: int = 5) -> CrossValidation[S]:
    """`per_setting`: each setting with its per-query nDCG@10 (the same queries for every setting)."""
    queries = sorted(per_setting[0][1])
    folds = folds_of(queries, min(k, len(queries)))
    out = []
    for held in folds:
        held_set = set(held)
        train = [q for q in queries if q not in held_set]
        chosen, scores = max(per_setting, key=lambda item: _mean(item[1], train))
        out.append(Fold(chosen, _mean(scores, held), _mean(scores, train), len(held)))
    return CrossValidation(out)


def fold_means(scores: Mapping[str, float], k: int = 5) -> list[float]:
    """A fixed setting's mean on each fold (a single retriever, for comparison fold by fold)."""
    return [_mean(scores, held) for held in folds_of(sorted(scores), min(k, len(scores)))]
