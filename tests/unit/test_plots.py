"""`--plot DIR`: raw samples leave the printed result, and each kind of result becomes PNG files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragstream.bench.plots import plot_bench, plot_eval, take_samples

pytestmark = pytest.mark.unit
PNG = b"\x89PNG\r\n\x1a\n"


def test_samples_are_taken_out_of_the_result_by_where_they_were() -> None:
    result = {
        "bench": "query",
        "sizes": {
            "10000": {"search": {"p50_ms": 3.0, "_samples_ms": [1.0, 3.0]}, "answer": {"_samples_ms": [5.0]}}
        },
    }
    samples = take_samples(result)
    assert samples == {"sizes 10000 search": [1.0, 3.0], "sizes 10000 answer": [5.0]}
    assert result == {"bench": "query", "sizes": {"10000": {"search": {"p50_ms": 3.0}, "answer": {}}}}


def test_benchmarks_and_eval_reports_become_png_files(tmp_path: Path) -> None:
    query = {"bench": "query", "sizes": {"1000": {"search": {"_samples_ms": [1.0, 2.0, 4.0]}}}}
    paths = plot_bench(query, take_samples(query), tmp_path)
    fresh = {"bench": "freshness", "load_per_s": 2.0, "_samples_s": [0.4, 0.6, 0.7, 1.2]}
    paths += plot_bench(fresh, take_samples(fresh), tmp_path)
    ingest = {
        "bench": "ingest",
        "docs": 3,
        "workers": 1,
        "runs": {
            "auto": {"_samples_progress": [[1.0, 0], [2.0, 10], [3.5, 40]]},
            "torch-fp32": {"_samples_progress": [[1.0, 0], [2.5, 10], [4.0, 40]]},
        },
    }
    paths += plot_bench(ingest, take_samples(ingest), tmp_path)
    sweep = [
        {"fusion": f, "rrf_k": k, "alpha": a, "candidates": 50, "ndcg@10": 0.7 + a / 10}
        for f, k, a in (("rrf", 10, 0.5), ("rrf", 60, 0.5), ("convex", 60, 0.3), ("convex", 60, 0.5))
    ]
    sweep += [  # a curve per sibling weight
        {
            "fusion": "convex",
            "rrf_k": 60,
            "alpha": a,
            "sibling_weight": 0.2,
            "candidates": 50,
            "ndcg@10": 0.71,
        }
        for a in (0.3, 0.5)
    ] + [{"cross_validation": 5}]
    report = {
        "dataset": "SciFact", "split": "train", "queries": 2,
        "results": {m: {"ndcg@10": 0.7, "recall@100": 0.9, "mrr@10": 0.6} for m in ("bm25", "dense", "hybrid")},
        "latency_ms": {"bm25": {"p50": 10.0, "p95": 20.0}}, "sweep": sweep,
    }  # fmt: skip
    paths += plot_eval(report, tmp_path)
    assert sorted(p.name for p in paths) == [
        "eval-scifact-train-by-mode.png", "eval-scifact-train-fusion-sweep.png", "eval-scifact-train-latency.png",
        "freshness-cdf.png", "freshness-histogram.png", "ingest-throughput-auto.png",
        "ingest-throughput-torch-fp32.png", "query-search-latency-cdf.png",
    ]  # fmt: skip
    assert all(p.read_bytes().startswith(PNG) and p.stat().st_size > 5000 for p in paths)


def test_bench_plot_draws_a_saved_eval_report_again(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ragstream.cli.main import app

    report = {
        "dataset": "SciFact", "split": "train", "queries": 2,
        "results": {m: {"ndcg@10": 0.7, "recall@100": 0.9, "mrr@10": 0.6} for m in ("bm25", "dense", "hybrid")},
        "sweep": [{"fusion": "convex", "rrf_k": 60, "alpha": a, "candidates": 50, "ndcg@10": 0.7} for a in (0.3, 0.5)],
    }  # fmt: skip
    saved = tmp_path / "eval.log"
    saved.write_text("progress lines\n" + json.dumps(report) + "\n")
    runner = CliRunner()
    drawn = runner.invoke(app, ["bench", "plot", str(saved), str(tmp_path / "plots")])
    assert drawn.exit_code == 0, drawn.output
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "eval-scifact-train-by-mode.png", "eval-scifact-train-fusion-sweep.png"
    ]  # fmt: skip
    saved.write_text('{"bench": "query"}\n')
    refused = runner.invoke(app, ["bench", "plot", str(saved), str(tmp_path / "more")])
    assert refused.exit_code == 2 and "no eval report" in refused.output
