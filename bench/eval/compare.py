"""Paired comparison of runs on one dataset split: each run's means and, against the first run,
the per-query paired differences with their standard errors (a difference within about two
standard errors of zero is noise on this query set)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ragstream.bench.eval.metrics import Qrels, mean_scores, paired_difference, per_query

METRICS = ("ndcg@10", "recall@100", "mrr@10")


@dataclass(frozen=True)
class RunComparison:
    name: str
    means: dict[str, float]
    # metric -> (mean of run minus baseline, standard error), per query; empty for the baseline.
    versus_baseline: dict[str, tuple[float, float]]


def compare_runs(
    runs: Sequence[tuple[str, Mapping[str, Sequence[str]]]], qrels: Mapping[str, Qrels]
) -> list[RunComparison]:
    scored = [(name, per_query(rankings, qrels)) for name, rankings in runs]
    _, baseline = scored[0]
    out = []
    for position, (name, scores) in enumerate(scored):
        versus = {}
        if position > 0:
            for metric in METRICS:
                versus[metric] = paired_difference(
                    {q: s[metric] for q, s in scores.items()}, {q: s[metric] for q, s in baseline.items()}
                )
        out.append(RunComparison(name, mean_scores(scores), versus))
    return out
