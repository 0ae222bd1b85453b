"""Human-readable eval report (rich) and the one-line JSON form."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from ragstream.bench.eval.compare import METRICS as COMPARED
from ragstream.bench.eval.compare import RunComparison
from ragstream.bench.eval.runner import EvalReport
from ragstream.bench.eval.sweep import FusionSetting

METRICS = ("ndcg@10", "recall@100", "mrr@10")


def print_report(report: EvalReport, console: Console) -> None:
    table = Table(title=f"{report.dataset} / {report.split}: {report.queries} queries, document level")
    table.add_column("mode")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    table.add_column("p50 ms", justify="right")
    for mode, metrics in report.results.items():
        table.add_row(mode, *(f"{metrics[m]:.4f}" for m in METRICS), f"{report.latency_ms[mode]['p50']:.0f}")
    console.print(table)
    s = report.settings
    fusion = f"hybrid fusion={s['fusion']} rrf_k={s['rrf_k']} alpha={s['alpha']} ({s.get('normalization', 'min-max')})"
    if "hits" in s:
        console.print(f"{fusion} | re-scored from {s['hits']}")
    else:
        c = s["chunking"]
        console.print(
            f"chunking max={c['max_tokens']} overlap={c['overlap_tokens']} min={c['min_tokens']}"
            f" | {fusion} | model {s['model']}"
            f" | top {s['depth']} chunks per query | {s['documents']} documents, {s['chunks']} chunks"
            f" | pipeline {s['pipeline']}"
        )
    if report.sweep:
        print_sweep(report.sweep, console)


def print_sweep(rows: list[dict[str, Any]], console: Console) -> None:
    scored = [r for r in rows if "fusion" in r]
    for row in rows:
        if "cross_validation" in row:
            print_cross_validation(row, console)
    for depth in sorted({r["candidates"] for r in scored}, reverse=True):
        table = Table(
            title=f"hybrid fusion sweep, top {depth} of each retriever fused (re-fused locally)",
            caption="delta: nDCG@10 minus the served setting's, per query, ± standard error",
        )
        table.add_column("fusion")
        for metric in METRICS:
            table.add_column(metric, justify="right")
        table.add_column("delta", justify="right")
        at_depth = [r for r in scored if r["candidates"] == depth]
        best = max(at_depth, key=lambda r: r["ndcg@10"])
        for row in at_depth:
            label = FusionSetting.of(row).label
            delta = f"{row['ndcg@10_vs_served']:+.4f} ± {row['ndcg@10_vs_served_se']:.4f}"
            style = "bold green" if row is best else None
            table.add_row(label, *(f"{row[m]:.4f}" for m in METRICS), delta, style=style)
        console.print(table)
    for row in rows:
        if "check" in row:
            console.print(
                f"{row['check']}: {row['fraction']:.3f} of queries; equal but for the order of tied"
                f" scores {row['equal_but_for_tie_order']:.3f}; a served document missing from the runs"
                f" {row['served_documents_missing_from_the_runs']:.3f}; different {row['different']:.3f}"
            )


def print_cross_validation(row: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"{row['cross_validation']}-fold cross-validation of the fusion setting, top {row['candidates']}",
        caption=f"hybrid held-out nDCG@10 {row['hybrid_ndcg@10']:.4f} ± {row['hybrid_ndcg@10_spread']:.4f}"
        f" (sd over folds); bm25 {row['bm25_ndcg@10']:.4f}, dense {row['dense_ndcg@10']:.4f}",
    )
    for column in ("fold", "chosen on the other folds", "in-sample", "held-out", "bm25", "dense"):
        table.add_column(column, justify="left" if column.startswith("chosen") else "right")
    for i, fold in enumerate(row["folds"], start=1):
        table.add_row(
            str(i), fold["chosen"], f"{fold['in_sample']:.4f}", f"{fold['held_out']:.4f}",
            f"{fold['bm25']:.4f}", f"{fold['dense']:.4f}",
        )  # fmt: skip
    console.print(table)


def print_comparison(title: str, compared: list[RunComparison], console: Console) -> None:
    table = Table(title=title, caption="delta: per-query paired difference to the first run ± standard error")
    table.add_column("run")
    for metric in COMPARED:
        table.add_column(metric, justify="right")
        table.add_column(f"delta {metric}", justify="right")
    for run in compared:
        cells = []
        for metric in COMPARED:
            delta = run.versus_baseline.get(metric)
            cells += [
                f"{run.means[metric]:.4f}",
                "" if delta is None else f"{delta[0]:+.4f} ± {delta[1]:.4f}",
            ]
        table.add_row(run.name, *cells)
    console.print(table)
