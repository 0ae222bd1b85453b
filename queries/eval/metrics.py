"""Ranking metrics at document level, as pure functions.

Conventions follow trec_eval / pytrec_eval, which BEIR reports: linear gain (a judgment of 2 counts
twice a judgment of 1), log2 position discount, judgments <= 0 are not relevant, and a query without
any relevant judgment is left out of the averages instead of counting as zero.
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


def evaluate(rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Qrels]) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 over the queries of `qrels` that have a relevant document.

    A judged query missing from `rankings` (the retriever returned nothing) scores zero.
    """
    judged = [query for query, judgments in qrels.items() if has_relevant(judgments)]
    if not judged:
        return {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    totals = {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for query in judged:
        ranking = collapse_to_documents(rankings.get(query, ()))
        totals["ndcg@10"] += ndcg_at_k(ranking, qrels[query], 10)
        totals["recall@100"] += recall_at_k(ranking, qrels[query], 100)
        totals["mrr@10"] += mrr_at_k(ranking, qrels[query], 10)
    return {name: total / len(judged) for name, total in totals.items()}
