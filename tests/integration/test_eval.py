"""`ragstream eval` end to end on a tiny BEIR folder: SDK -> Kafka -> stream worker -> query API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import ir_measures
import pytest
import typer
from typer.testing import CliRunner

from ragstream.cli.eval_bench import eval_command
from ragstream.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

DOCS = {
    "d1": ("Zorblax foxes", "The zorblax fox hunts voles at dawn in the snowy northern forests."),
    "d2": ("Sailing", "Sailing boats use the wind; motor boats burn diesel fuel in their engines."),
    "d3": ("Photosynthesis", "Plants turn sunlight, water and carbon dioxide into glucose and oxygen."),
    "d4": ("Volcanoes", "Volcanic eruptions release magma, ash and gases from deep inside the earth."),
    "d5": ("Coffee", "Coffee beans are the roasted seeds of the coffea plant, brewed into a drink."),
    "d6": ("Chess", "Chess is a board game in which two players try to checkmate the opposing king."),
    "d7": ("Bicycles", "A bicycle has two wheels, pedals and a chain that drives the rear wheel."),
    "d8": ("Glaciers", "Glaciers are slow rivers of ice that carve valleys as they creep downhill."),
}
QUERIES = {
    "q1": ("zorblax fox hunting voles", "d1"),
    "q2": ("photosynthesis glucose sunlight", "d3"),
    "q3": ("chess checkmate king", "d6"),
    "q4": ("glaciers carve valleys", "d8"),
}


def write_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in DOCS.items())
    )
    # q5 has no judgment in the split: it must be left out.
    queries = {**{q: text for q, (text, _) in QUERIES.items()}, "q5": "unjudged"}
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    rows = "".join(f"{q}\t{doc}\t1\n" for q, (_, doc) in QUERIES.items())
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root


def run_eval(*args: str) -> dict[str, Any]:
    app = typer.Typer()
    app.command("eval")(eval_command)

    @app.callback()
    def main() -> None:
        """Makes `eval` a sub-command, as in the real CLI."""

    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_eval_reports_every_mode_and_reuses_the_ingest(local_stack: Settings, tmp_path: Path) -> None:
    dataset = write_beir(tmp_path / "tiny")
    common = ["--dataset", str(dataset), "--json", "--state-dir", str(tmp_path / "state")]
    common += ["--tag", f"evaltest-{uuid.uuid4().hex[:8]}"]

    runs = tmp_path / "runs"
    report = run_eval(*common, "--mode", "all", "--sweep", "--cv-folds", "2", "--save-runs", str(runs))
    # No --split: the one split the folder has.
    assert report["dataset"] == "tiny" and report["split"] == "test" and report["queries"] == 4
    assert set(report["results"]) == {"bm25", "dense", "hybrid"}
    for metrics in report["results"].values():
        assert set(metrics) == {"ndcg@10", "recall@100", "mrr@10"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # Every query names a rare word of exactly one document.
    assert report["results"]["bm25"] == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    settings = report["settings"]
    assert settings["documents"] == 8 and settings["chunks"] >= 8
    assert {"chunking", "fusion", "rrf_k", "alpha", "sibling_weight", "model"} <= set(settings)
    assert settings["reused_ingest"] is False

    # One TREC run file per mode, which trec_eval (through ir-measures) scores as the eval does.
    qrels = [ir_measures.Qrel(q, doc, 1) for q, (_, doc) in QUERIES.items()]
    for mode, metrics in report["results"].items():
        run = list(ir_measures.read_trec_run(str(runs / f"{mode}.trec")))
        assert {r.query_id for r in run} == set(QUERIES)
        ndcg = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, run)[ir_measures.nDCG @ 10]
        assert ndcg == pytest.approx(metrics["ndcg@10"])
    check = next(row for row in report["sweep"] if "check" in row)
    assert check["fraction"] + check["equal_but_for_tie_order"] == 1.0
    cv = next(row for row in report["sweep"] if "cross_validation" in row)
    assert len(cv["folds"]) == 2 and 0.0 <= cv["hybrid_ndcg@10"] <= 1.0

    again = run_eval(*common, "--mode", "bm25", "--limit-queries", "1")
    assert again["settings"]["reused_ingest"] is True
    assert again["queries"] == 1 and again["results"]["bm25"]["ndcg@10"] == 1.0
