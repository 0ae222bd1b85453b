"""TREC run files, the default split, paired comparison and cross-validation of `ragstream eval`;
nDCG@10 cross-checked against ir-measures (trec_eval's implementation)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import ir_measures
import pytest
from rich.console import Console

from ragstream.bench.eval.beir import DatasetError, default_split
from ragstream.bench.eval.compare import compare_runs
from ragstream.bench.eval.crossval import cross_validate, folds_of
from ragstream.bench.eval.metrics import evaluate, per_query
from ragstream.bench.eval.report import print_sweep
from ragstream.bench.eval.retrieve import ChunkHit, ModeRun
from ragstream.bench.eval.runner import EvalOptions, rescore_saved
from ragstream.bench.eval.runs import RunFileError, read_hits, read_run, trec_lines, write_hits, write_trec
from ragstream.bench.eval.sweep import FusionSetting
from ragstream.settings import RetrievalSettings

pytestmark = pytest.mark.unit


def random_case(seed: int) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    """Chunk-level rankings (documents repeat, as chunk hits do) and graded judgments."""
    rng = random.Random(seed)
    documents = [f"d{i}" for i in range(60)]
    rankings = {f"q{q}": [rng.choice(documents) for _ in range(40)] for q in range(25)}
    qrels = {
        q: {d: rng.choice([0, 1, 1, 2]) for d in rng.sample(documents, rng.randint(1, 12))} for q in rankings
    }
    return rankings, qrels


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ndcg_at_10_matches_ir_measures_on_the_written_run(tmp_path: Path, seed: int) -> None:
    rankings, qrels = random_case(seed)
    path = tmp_path / "run.trec"
    write_trec(path, rankings, "test")

    # The eval only loads queries with a relevant judgment (trec_eval would score the others 0).
    judged_queries = {q: j for q, j in qrels.items() if any(g > 0 for g in j.values())}
    qrels_rows = [
        ir_measures.Qrel(q, d, g) for q, judged in judged_queries.items() for d, g in judged.items()
    ]
    reference = ir_measures.calc_aggregate(
        [ir_measures.nDCG @ 10, ir_measures.R @ 100], qrels_rows, ir_measures.read_trec_run(str(path))
    )
    ours = evaluate(rankings, qrels)
    assert ours["ndcg@10"] == pytest.approx(reference[ir_measures.nDCG @ 10], abs=1e-9)
    assert ours["recall@100"] == pytest.approx(reference[ir_measures.R @ 100], abs=1e-9)


def test_run_lines_are_trec_format_in_served_order_with_tie_free_scores() -> None:
    lines = trec_lines({"q1": ["b", "a", "b", "c"]}, "ragstream-bm25")
    assert lines == ["q1 Q0 b 1 3 ragstream-bm25", "q1 Q0 a 2 2 ragstream-bm25", "q1 Q0 c 3 1 ragstream-bm25"]


def test_written_runs_read_back_in_the_same_order(tmp_path: Path) -> None:
    rankings = {"q1": ["z", "a", "m"], "q2": ["b"]}
    write_trec(tmp_path / "run.trec", rankings, "x")
    assert read_run(str(tmp_path / "run.trec")) == rankings


def test_legacy_json_runs_are_read_per_mode(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"bm25": {"q1": [["d2", "d2#v1#c0", 1, 3.0], ["d2", "d2#v1#c1", 1, 2.0]]}}))
    assert read_run(f"{path}#bm25") == {"q1": ["d2"]}
    with pytest.raises(RunFileError, match="bm25"):
        read_run(str(path))
    with pytest.raises(RunFileError):
        read_run(str(tmp_path / "missing.trec"))


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["train", "dev"], "dev"),
        (["train"], "train"),
        (["test", "dev", "train"], "test"),
        (["other"], "other"),
    ],
)
def test_default_split_is_one_the_dataset_has(tmp_path: Path, files: list[str], expected: str) -> None:
    (tmp_path / "qrels").mkdir()
    for name in files:
        (tmp_path / "qrels" / f"{name}.tsv").write_text("query-id\tcorpus-id\tscore\n")
    assert default_split(tmp_path) == expected


def test_default_split_of_a_folder_without_qrels_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="qrels"):
        default_split(tmp_path)


def test_paired_comparison_against_the_first_run() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    worse = {"q1": ["x", "a"], "q2": ["x", "b"]}
    better = {"q1": ["a"], "q2": ["b"]}
    baseline, other = compare_runs([("worse", worse), ("better", better)], qrels)
    assert baseline.versus_baseline == {}
    delta, se = other.versus_baseline["ndcg@10"]
    assert delta == pytest.approx(1 - 1 / 1.5849625007211563) and se == pytest.approx(0.0)


def test_cross_validation_scores_each_fold_with_a_setting_chosen_on_the_others() -> None:
    queries = [f"q{i}" for i in range(20)]
    folds = folds_of(queries, 4)
    assert sorted(q for fold in folds for q in fold) == sorted(queries) and len(folds) == 4
    # "lucky" is best on the first fold's queries only: no fold may report it for its own queries.
    lucky = {q: (1.0 if q in folds[0] else 0.0) for q in queries}
    steady = dict.fromkeys(queries, 0.5)
    cv = cross_validate([("lucky", lucky), ("steady", steady)], 4)
    assert cv.folds[0].chosen == "steady" and cv.folds[0].held_out == 0.5
    assert all(f.held_out <= 0.5 for f in cv.folds)
    assert cv.mean == pytest.approx(sum(f.held_out for f in cv.folds) / 4)


def test_per_query_scores_of_the_written_run_match_the_rankings(tmp_path: Path) -> None:
    rankings, qrels = random_case(7)
    write_trec(tmp_path / "run.trec", rankings, "x")
    assert per_query(read_run(str(tmp_path / "run.trec")), qrels) == per_query(rankings, qrels)


def _tiny_dataset(folder: Path) -> None:
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": f"d{i}", "title": "", "text": f"text {i}"} for i in range(4)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    queries = [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")


def test_saved_hits_are_rescored_and_swept_without_a_pipeline(tmp_path: Path) -> None:
    _tiny_dataset(tmp_path / "data")
    # BM25 finds each query's relevant document second; the vector index finds it first with a
    # margin, so fused rankings depend on the setting, as the sweep must show.
    bm25 = {
        "q1": [ChunkHit("d0", "d0#v1#c0", 1, 9.0), ChunkHit("d1", "d1#v1#c0", 1, 8.0)],
        "q2": [ChunkHit("d3", "d3#v1#c0", 1, 5.0), ChunkHit("d2", "d2#v1#c0", 1, 1.0)],
    }
    dense = {
        "q1": [ChunkHit("d1", "d1#v1#c1", 1, 0.9), ChunkHit("d0", "d0#v1#c0", 1, 0.2)],
        "q2": [ChunkHit("d2", "d2#v1#c0", 1, 0.8), ChunkHit("d3", "d3#v1#c0", 1, 0.7)],
    }
    runs = {"bm25": ModeRun("bm25", bm25, [1.0]), "dense": ModeRun("dense", dense, [1.0])}
    write_hits(tmp_path / "hits.json", runs)
    assert {m: r.hits for m, r in read_hits(tmp_path / "hits.json").items()} == {"bm25": bm25, "dense": dense}

    options = EvalOptions(modes=("bm25", "dense", "hybrid"), sweep=True, cv_folds=2)
    report = rescore_saved(tmp_path / "data", "train", tmp_path / "hits.json", options, RetrievalSettings())
    assert set(report.results) == {"bm25", "dense"}  # no hybrid run was saved
    assert report.results["dense"]["ndcg@10"] == pytest.approx(1.0)
    assert report.results["bm25"]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    rows = [r for r in report.sweep if "fusion" in r]
    assert {r["normalization"] for r in rows if r["fusion"] == "convex"} == {"min-max", "z-score"}
    assert {r["sibling_weight"] for r in rows if r["fusion"] == "convex"} == {0.0, 0.1, 0.2, 0.3}
    pure_dense = [r for r in rows if r["fusion"] == "convex" and r["alpha"] == 1.0]
    assert all(r["ndcg@10"] == pytest.approx(1.0) for r in pure_dense)
    assert any("cross_validation" in r for r in report.sweep)

    # The printed table names each setting as the cross-validation table and the plots do.
    console = Console(record=True, width=240)
    print_sweep(report.sweep, console)
    printed = console.export_text()
    assert "convex z-score alpha=0.45 siblings=0.20" in printed and "rrf k=60" in printed
    # A report saved before normalisations and sibling weights existed still reads.
    assert FusionSetting.of({"fusion": "convex", "alpha": 0.3, "candidates": 50}).label == "convex alpha=0.30"


def test_a_hits_file_of_another_shape_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "hits.json"
    path.write_text(json.dumps({"bm25": {"q1": [["d1", "d1#v1#c0"]]}}))
    with pytest.raises(RunFileError, match="not a hits file"):
        read_hits(path)
