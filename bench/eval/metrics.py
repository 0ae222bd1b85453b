"""Ranking metrics at document level, as pure functions.

Conventions follow trec_eval / pytrec_eval, which BEIR reports: linear gain (a judgment of 2 counts
twice a judgment of 1), log2 position discount, judgments <= 0 are not relevant. A query without any
relevant judgment is left out of the averages (trec_eval would count it as zero; the eval loads only
queries that have one, so the figures agree: tests/unit/test_eval_runs.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

Qrels = Mapping[str, int]


def collapse_to_documents(document_ids: Iterable[str]) -> list[str]:
    """Chunk hits (best first) -> documents (best first): a document keeps its best chunk's rank."""
    seen: set[str] = set()
    ranked: list[str] = []
    for document_id in document_ids:
        if document_id not in seen:
            seen.add(document_id)
            ranked.append(document_id)
    return ranked


def _relevant(qrels: Qrels) -> dict[str, int]:
    return {doc: grade for doc, grade in qrels.items() if grade > 0}


def dcg_at_k(gains: Sequence[float], k: int) -> float:
    return sum(gain / math.log2(position + 2) for position, gain in enumerate(gains[:k]))


def ndcg_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    relevant = _relevant(qrels)
    ideal = dcg_at_k(sorted(map(float, relevant.values()), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg_at_k([float(relevant.get(doc, 0)) for doc in ranking], k) / ideal


def recall_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    return len(relevant.keys() & set(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    relevant = _relevant(qrels)
    for position, doc in enumerate(ranking[:k], start=1):
        if doc in relevant:
            return 1.0 / position
    return 0.0


def has_relevant(qrels: Qrels) -> bool:
    return bool(_relevant(qrels))


def per_query(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Qrels]
) -> dict[str, dict[str, float]]:
    """nDCG@10, Recall@100 and MRR@10 of every query of `qrels` that has a relevant document.

    A judged query missing from `rankings` (the retriever returned nothing) scores zero.
    """
    out = {}
    for query, judgments in qrels.items():
        if not has_relevant(judgments):
            continue
        ranking = collapse_to_documents(rankings.get(query, ()))
        out[query] = {
            "ndcg@10": ndcg_at_k(ranking, judgments, 10),
            "recall@100": recall_at_k(ranking, judgments, 100),
            "mrr@10": mrr_at_k(ranking, judgments, 10),
        }
    return out


def mean_scores(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    if not scores:
        return {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    names = next(iter(scores.values())).keys()
    return {name: sum(s[name] for s in scores.values()) / len(scores) for name in names}


def evaluate(rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Qrels]) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 over the queries of `qrels` that have a relevant document."""
    return mean_scores(per_query(rankings, qrels))


def paired_difference(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, float]:
    """Mean of a - b over the queries both score, and its standard error: a difference within about
    two standard errors of zero is noise on this query set."""
    diffs = [a[q] - b[q] for q in a.keys() & b.keys()]
    if not diffs:
        return 0.0, 0.0
    mean = sum(diffs) / len(diffs)
    if len(diffs) < 2:
        return mean, 0.0
    variance = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return mean, math.sqrt(variance / len(diffs))
