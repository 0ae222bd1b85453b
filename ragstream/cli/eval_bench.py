"""`ragstream eval` (retrieval quality on a BEIR dataset) and `ragstream bench` (performance)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from ragstream.bench.cli import bench_app
from ragstream.bench.eval.beir import DatasetError, default_split, load_dataset, read_qrels, subset
from ragstream.bench.eval.compare import compare_runs
from ragstream.bench.eval.ingest import STATE_ROOT, IngestOptions
from ragstream.bench.eval.keyword_ablation import ablation
from ragstream.bench.eval.metrics import has_relevant
from ragstream.bench.eval.report import print_comparison, print_report
from ragstream.bench.eval.retrieve import MODES
from ragstream.bench.eval.runner import EvalOptions, rescore_saved, run_eval
from ragstream.bench.eval.runs import RunFileError, read_run
from ragstream.settings import ChunkingSettings, get_settings

__all__ = ["bench_app", "compare_command", "eval_command", "keyword_command"]


def eval_command(
    dataset: Path = typer.Option(
        ...,
        "--dataset",
        exists=True,
        file_okay=False,
        help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/",
    ),
    split: str | None = typer.Option(
        None, "--split", help="qrels/<split>.tsv (default: test, else dev, else train, as the dataset has)"
    ),
    mode: str = typer.Option("all", "--mode", help="bm25, dense, hybrid or all"),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on the last line."),
    limit_queries: int | None = typer.Option(None, "--limit-queries", min=1, help="First N judged queries."),
    limit_docs: int | None = typer.Option(
        None, "--limit-docs", min=1, help="Judged documents plus others up to N (quick comparisons only)."
    ),
    fusion: str | None = typer.Option(None, "--fusion", help="Hybrid fusion for this run: rrf or convex."),
    rrf_k: int | None = typer.Option(None, "--rrf-k", min=1, max=1000),
    alpha: float | None = typer.Option(None, "--alpha", min=0.0, max=1.0, help="Convex weight of dense."),
    normalization: str | None = typer.Option(
        None, "--normalization", help="Convex score normalisation: min-max or z-score."
    ),
    sibling_weight: float | None = typer.Option(
        None,
        "--sibling-weight",
        min=0.0,
        max=1.0,
        help="Convex weight of a document's further vector hits, added to its best one's.",
    ),
    hits: Path | None = typer.Option(
        None,
        "--hits",
        exists=True,
        dir_okay=False,
        help="Re-score (and --sweep) the hits.json of an earlier --save-runs instead of ingesting and querying.",
    ),
    sweep: bool = typer.Option(
        False, "--sweep", help="Also sweep RRF k and convex alpha (no re-query), cross-validated."
    ),
    cv_folds: int = typer.Option(
        5, "--cv-folds", min=2, max=50, help="Folds of the sweep's cross-validation."
    ),
    save_runs: Path | None = typer.Option(
        None, "--save-runs", file_okay=False, help="Folder for every mode's TREC run file (<mode>.trec)."
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
    plot: Path | None = typer.Option(
        None, "--plot", file_okay=False, help="Also write PNG charts (per mode, the sweep, latency) into DIR."
    ),
    backends: str | None = typer.Option(
        None,
        "--backends",
        help="Compare encoder backends instead (dense, in-process, same chunks): e.g. "
        "torch-fp32,torch-bf16,onnx-fp32,onnx-int8; PASSAGES/QUERIES (torch-bf16/onnx-fp32) ranks one"
        " backend's chunk vectors with another's query vectors.",
    ),
) -> None:
    """Retrieval quality (nDCG@10, Recall@100, MRR@10) of a BEIR dataset ingested through the pipeline."""
    if backends is not None:
        _compare_backends(
            dataset, split or default_split(dataset), backends, limit_queries, limit_docs, json_output
        )
        return
    if mode not in (*MODES, "all"):
        raise typer.BadParameter(f"mode must be one of {', '.join(MODES)} or all", param_hint="--mode")
    if fusion not in (None, "rrf", "convex"):
        raise typer.BadParameter("fusion must be rrf or convex", param_hint="--fusion")
    if normalization not in (None, "min-max", "z-score"):
        raise typer.BadParameter("normalization must be min-max or z-score", param_hint="--normalization")
    settings = get_settings()
    chunking = ChunkingSettings(
        max_tokens=max_tokens or settings.chunking.max_tokens,
        overlap_tokens=settings.chunking.overlap_tokens if overlap_tokens is None else overlap_tokens,
        min_tokens=settings.chunking.min_tokens if min_tokens is None else min_tokens,
        tokenizer=settings.chunking.tokenizer,
    )
    # Progress and tables go to stderr with --json, so stdout carries the JSON object alone.
    console = Console(stderr=json_output)
    options = EvalOptions(
        modes=MODES if mode == "all" else (mode,),
        fusion=fusion,
        rrf_k=rrf_k,
        alpha=alpha,
        normalization=normalization,
        sibling_weight=sibling_weight,
        limit_queries=limit_queries,
        limit_docs=limit_docs,
        sweep=sweep,
        cv_folds=cv_folds,
        save_runs=save_runs,
    )
    ingest = IngestOptions(
        chunking=chunking,
        model=settings.embedding.model,
        backend=settings.embedding.backend,
        workers=workers,
        timeout_s=ingest_timeout,
        state_root=state_dir,
        tag=tag,
    )
    try:
        if hits is not None:
            report = rescore_saved(
                dataset, split or default_split(dataset), hits, options, settings.retrieval
            )
        else:
            report = run_eval(dataset, split or default_split(dataset), options, ingest, console)
    except (DatasetError, RunFileError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    print_report(report, console)
    if json_output:
        print(json.dumps(report.as_json()), flush=True)
    if plot is not None:
        from ragstream.bench.plots import plot_eval

        for path in plot_eval(report.as_json(), plot):
            console.print(f"plot: {path}")


def _compare_backends(
    dataset: Path,
    split: str,
    backends: str,
    limit_queries: int | None,
    limit_docs: int | None,
    json_output: bool,
) -> None:
    from ragstream.bench.eval.backends import compare_backends, split_pair
    from ragstream.embedding.backends import BACKENDS

    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if unknown := [b for b in chosen if not set(split_pair(b)) <= set(BACKENDS)]:
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
            f"{name:22} nDCG@10 {row['ndcg@10']:.4f}  delta {row['ndcg@10_delta_vs_fp32']:+.4f}"
            f" ± {row['ndcg@10_delta_se']:.4f}  {row['passages_per_s']:.1f} passages/s"
        )
    if json_output:
        print(json.dumps(report), flush=True)


def compare_command(
    runs: list[str] = typer.Argument(
        ...,
        help="Run files: TREC (.trec), or FILE.json#MODE from an earlier `eval --save-runs`; the first is the baseline.",
    ),
    dataset: Path = typer.Option(..., "--dataset", exists=True, file_okay=False, help="BEIR folder."),
    split: str | None = typer.Option(None, "--split", help="qrels/<split>.tsv (default as for `eval`)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on the last line."),
) -> None:
    """nDCG@10, Recall@100 and MRR@10 of saved runs, with per-query paired differences to the first."""
    # Wide enough for the run labels, whatever the terminal (or its absence) says.
    console = Console(stderr=json_output, width=200)
    try:
        chosen = split or default_split(dataset)
        qrels = read_qrels(dataset / "qrels" / f"{chosen}.tsv")
        loaded = [(spec, read_run(spec)) for spec in runs]
    except (DatasetError, RunFileError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    judged = {q: j for q, j in qrels.items() if has_relevant(j)}
    compared = compare_runs(loaded, judged)
    print_comparison(f"{dataset.name}/{chosen}: {len(judged)} judged queries", compared, console)
    if json_output:
        out = {
            "dataset": dataset.name, "split": chosen, "queries": len(judged),
            "runs": [{"run": r.name, **r.means, "versus_first": r.versus_baseline} for r in compared],
        }  # fmt: skip
        print(json.dumps(out), flush=True)


def keyword_command(
    dataset: Path = typer.Option(..., "--dataset", exists=True, file_okay=False, help="BEIR folder."),
    split: str | None = typer.Option(None, "--split", help="qrels/<split>.tsv (default as for `eval`)."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1, help="Chunking (default: settings)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on the last line."),
) -> None:
    """BM25 variants, one cause at a time, in-process (no pipeline, no model): chunks or documents,
    title weight, query syntax, stop words, k1/b, and the served keyword index."""
    # Wide enough for the run labels, whatever the terminal (or its absence) says.
    console = Console(stderr=json_output, width=200)
    try:
        chosen = split or default_split(dataset)
        data = load_dataset(dataset, chosen)
    except DatasetError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    profile = get_settings().chunking
    if max_tokens is not None:
        profile = profile.model_copy(update={"max_tokens": max_tokens})
    rows = ablation(data, profile, on_row=lambda label: console.print(f"done: {label}"))
    compared = compare_runs(rows, data.qrels)
    print_comparison(
        f"{data.name}/{chosen}: {len(data.queries)} judged queries, keyword variants", compared, console
    )
    if json_output:
        out = {
            "dataset": data.name, "split": chosen, "queries": len(data.queries),
            "chunking": profile.model_dump(include={"max_tokens", "overlap_tokens", "min_tokens"}),
            "runs": [{"run": r.name, **r.means, "versus_first": r.versus_baseline} for r in compared],
        }  # fmt: skip
        print(json.dumps(out), flush=True)
