"""`ragstream eval` (retrieval quality on a BEIR dataset) and `ragstream bench` (performance)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from ragstream.bench.cli import bench_app
from ragstream.bench.eval.beir import DatasetError, load_dataset, subset
from ragstream.bench.eval.ingest import STATE_ROOT, IngestOptions
from ragstream.bench.eval.report import print_report
from ragstream.bench.eval.retrieve import MODES
from ragstream.bench.eval.runner import EvalOptions, run_eval
from ragstream.settings import ChunkingSettings, get_settings

__all__ = ["bench_app", "eval_command"]


def eval_command(
    dataset: Path = typer.Option(
        ...,
        "--dataset",
        exists=True,
        file_okay=False,
        help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/",
    ),
    split: str = typer.Option("test", "--split", help="qrels/<split>.tsv"),
    mode: str = typer.Option("all", "--mode", help="bm25, dense, hybrid or all"),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on the last line."),
    limit_queries: int | None = typer.Option(None, "--limit-queries", min=1, help="First N judged queries."),
    limit_docs: int | None = typer.Option(
        None, "--limit-docs", min=1, help="Judged documents plus others up to N (quick comparisons only)."
    ),
    fusion: str | None = typer.Option(None, "--fusion", help="Hybrid fusion for this run: rrf or convex."),
    rrf_k: int | None = typer.Option(None, "--rrf-k", min=1, max=1000),
    alpha: float | None = typer.Option(None, "--alpha", min=0.0, max=1.0, help="Convex weight of dense."),
    sweep: bool = typer.Option(False, "--sweep", help="Also sweep RRF k and convex alpha (no re-query)."),
    save_runs: Path | None = typer.Option(
        None, "--save-runs", help="Write every mode's hits to this JSON file."
    ),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1, help="Chunking (default: settings)."),
    overlap_tokens: int | None = typer.Option(None, "--overlap-tokens", min=0),
    min_tokens: int | None = typer.Option(None, "--min-tokens", min=0),
    workers: int = typer.Option(1, "--workers", min=1, max=8, help="Stream workers for the ingest."),
    state_dir: Path = typer.Option(STATE_ROOT, "--state-dir", help="Where pipeline state is kept for reuse."),
    tag: str | None = typer.Option(
        None, "--tag", hidden=True, help="Pipeline tag instead of the derived one."
    ),
    ingest_timeout: float = typer.Option(
        4 * 3600, "--ingest-timeout", help="Seconds to wait for the ingest."
    ),
    backends: str | None = typer.Option(
        None,
        "--backends",
        help="Compare encoder backends instead (dense, in-process, same chunks): e.g. "
        "torch-fp32,torch-bf16,onnx-fp32,onnx-int8.",
    ),
) -> None:
    """Retrieval quality (nDCG@10, Recall@100, MRR@10) of a BEIR dataset ingested through the pipeline."""
    if backends is not None:
        _compare_backends(dataset, split, backends, limit_queries, limit_docs, json_output)
        return
    if mode not in (*MODES, "all"):
        raise typer.BadParameter(f"mode must be one of {', '.join(MODES)} or all", param_hint="--mode")
    if fusion not in (None, "rrf", "convex"):
        raise typer.BadParameter("fusion must be rrf or convex", param_hint="--fusion")
    settings = get_settings()
    chunking = ChunkingSettings(
        max_tokens=max_tokens or settings.chunking.max_tokens,
        overlap_tokens=settings.chunking.overlap_tokens if overlap_tokens is None else overlap_tokens,
        min_tokens=settings.chunking.min_tokens if min_tokens is None else min_tokens,
    )
    # Progress and tables go to stderr with --json, so stdout carries the JSON object alone.
    console = Console(stderr=json_output)
    options = EvalOptions(
        modes=MODES if mode == "all" else (mode,),
        fusion=fusion,
        rrf_k=rrf_k,
        alpha=alpha,
        limit_queries=limit_queries,
        limit_docs=limit_docs,
        sweep=sweep,
        save_runs=save_runs,
    )
    ingest = IngestOptions(
        chunking=chunking,
        model=settings.embedding.model,
        workers=workers,
        timeout_s=ingest_timeout,
        state_root=state_dir,
        tag=tag,
    )
    try:
        report = run_eval(dataset, split, options, ingest, console)
    except DatasetError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    print_report(report, console)
    if json_output:
        print(json.dumps(report.as_json()), flush=True)


def _compare_backends(
    dataset: Path,
    split: str,
    backends: str,
    limit_queries: int | None,
    limit_docs: int | None,
    json_output: bool,
) -> None:
    from ragstream.bench.eval.backends import compare_backends
    from ragstream.embedding.backends import BACKENDS

    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if unknown := [b for b in chosen if b not in BACKENDS]:
        raise typer.BadParameter(f"unknown backends {unknown}; one of {', '.join(BACKENDS)}")
    console = Console(stderr=json_output)
    settings = get_settings()
    try:
        data = subset(load_dataset(dataset, split, limit_queries=limit_queries), limit_docs)
    except DatasetError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    report = compare_backends(data, chosen, settings.chunking, settings.embedding)
    for name, row in report["backends"].items():
        console.print(
            f"{name:12} nDCG@10 {row['ndcg@10']:.4f}  delta {row['ndcg@10_delta_vs_fp32']:+.4f}"
            f" ± {row['ndcg@10_delta_se']:.4f}  {row['passages_per_s']:.1f} passages/s"
        )
    if json_output:
        print(json.dumps(report), flush=True)
