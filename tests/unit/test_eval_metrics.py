"""Document-level ranking metrics, checked against values worked out by hand."""

from __future__ import annotations

import pytest

from ragstream.bench.eval.metrics import (
    collapse_to_documents,
    evaluate,
    mean_scores,
    mrr_at_k,
    ndcg_at_k,
    paired_difference,
    per_query,
    recall_at_k,
)

pytestmark = pytest.mark.unit


def test_chunks_of_one_document_collapse_to_its_best_rank() -> None:
    assert collapse_to_documents(["d1", "d1", "d2", "d1", "d3", "d2"]) == ["d1", "d2", "d3"]


def test_ndcg_binary_by_hand() -> None:
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1/log2(2) + 1/log2(3) = 1.6309297535714575
    assert ndcg_at_k(["d1", "d2", "d3"], {"d1": 1, "d3": 1}, 10) == pytest.approx(0.9197207891481876)


def test_ndcg_graded_uses_linear_gain() -> None:
    # DCG = 1/1 + 2/log2(3) = 2.2618595; ideal order (2, 1): 2/1 + 1/log2(3) = 2.6309298
    assert ndcg_at_k(["a", "b", "c"], {"a": 1, "b": 2, "c": 0}, 10) == pytest.approx(0.8597186998521972)


def test_ndcg_perfect_and_empty() -> None:
    assert ndcg_at_k(["d1", "x"], {"d1": 1}, 10) == 1.0
    assert ndcg_at_k([], {"d1": 1}, 10) == 0.0
    assert ndcg_at_k(["d1"], {"d1": 0}, 10) == 0.0


def test_ndcg_cuts_at_k() -> None:
    ranking = [f"x{i}" for i in range(10)] + ["d1"]
    assert ndcg_at_k(ranking, {"d1": 1}, 10) == 0.0
    # d1 at rank 3 of a 2-deep cut is outside, at a 3-deep cut it gives 1/log2(4) / 1 = 0.5
    assert ndcg_at_k(["x", "y", "d1"], {"d1": 1}, 2) == 0.0
    assert ndcg_at_k(["x", "y", "d1"], {"d1": 1}, 3) == pytest.approx(0.5)


def test_ideal_dcg_is_cut_at_k_too() -> None:
    # Three relevant, k=1: ideal DCG@1 = 1, the ranking's DCG@1 = 1 -> 1.0 although two are missed.
    assert ndcg_at_k(["a"], {"a": 1, "b": 1, "c": 1}, 1) == 1.0


def test_recall_by_hand() -> None:
    qrels = {"d1": 1, "d3": 1}
    assert recall_at_k(["d1", "d2"], qrels, 100) == 0.5
    assert recall_at_k(["d3", "d1"], qrels, 100) == 1.0
    assert recall_at_k(["d2", "d3"], qrels, 1) == 0.0
    assert recall_at_k(["d1"], {"d1": 0}, 100) == 0.0


def test_mrr_by_hand() -> None:
    assert mrr_at_k(["x", "y", "d1", "d2"], {"d1": 1, "d2": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["d2"], {"d2": 1}, 10) == 1.0
    assert mrr_at_k([f"x{i}" for i in range(10)] + ["d1"], {"d1": 1}, 10) == 0.0


def test_evaluate_averages_judged_queries_only() -> None:
    rankings = {
        "q1": ["d1", "d1", "d2", "d3"],  # chunks: collapses to d1, d2, d3
        "q2": ["d9"],
        "q3": ["d5"],  # no relevant judgment: left out
    }
    qrels = {"q1": {"d1": 1, "d3": 1}, "q2": {"d4": 1}, "q3": {"d5": 0}, "q4": {"d7": 1}}
    result = evaluate(rankings, qrels)
    # q1: ndcg 0.9197207891481876, recall 1, mrr 1; q2 and q4 (no ranking at all) score 0.
    assert result["ndcg@10"] == pytest.approx(0.9197207891481876 / 3)
    assert result["recall@100"] == pytest.approx(1 / 3)
    assert result["mrr@10"] == pytest.approx(1 / 3)


def test_evaluate_without_judged_queries_is_zero() -> None:
    assert evaluate({"q": ["d"]}, {"q": {"d": 0}}) == {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


def test_per_query_scores_and_their_mean() -> None:
    scores = per_query({"q1": ["d1"], "q2": ["x", "d2"]}, {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 0}})
    assert set(scores) == {"q1", "q2"}
    assert scores["q2"]["mrr@10"] == 0.5
    assert scores["q2"]["ndcg@10"] == pytest.approx(0.6309297535714575)  # 1/log2(3)
    assert mean_scores(scores)["mrr@10"] == 0.75


def test_paired_difference_by_hand() -> None:
    # diffs 0.2, 0.0, 0.4: mean 0.2, sample variance 0.04, standard error sqrt(0.04 / 3)
    mean, se = paired_difference({"a": 0.6, "b": 0.5, "c": 0.9}, {"a": 0.4, "b": 0.5, "c": 0.5, "z": 1.0})
    assert mean == pytest.approx(0.2)
    assert se == pytest.approx((0.04 / 3) ** 0.5)
    assert paired_difference({}, {}) == (0.0, 0.0)
