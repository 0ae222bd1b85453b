"""`ragstream eval`: ingest a BEIR dataset through the pipeline, query every judged query per mode,
score the rankings at document level."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragstream.bench.eval.beir import Dataset, load_dataset, subset
from ragstream.bench.eval.crossval import cross_validate, fold_means
from ragstream.bench.eval.ingest import IngestOptions, IngestResult, ingested
from ragstream.bench.eval.metrics import evaluate, mean_scores, paired_difference, per_query
from ragstream.bench.eval.retrieve import DEPTH, MODES, ModeRun, document_rankings, run_mode
from ragstream.bench.eval.runs import read_hits, write_hits, write_trec
from ragstream.bench.eval.sweep import FusionSetting, default_grid, fused_rankings, refusion_check, sweep
from ragstream.settings import RetrievalSettings


@dataclass(frozen=True)
class EvalOptions:
    modes: tuple[str, ...] = MODES
    # Per-request overrides of the query API's fusion settings; None keeps its configured default.
    fusion: str | None = None
    rrf_k: int | None = None
    alpha: float | None = None
    normalization: str | None = None
    sibling_weight: float | None = None
    limit_queries: int | None = None
    limit_docs: int | None = None
    sweep: bool = False
    # Folds of the sweep's cross-validation (each fold's setting is chosen on the other folds).
    cv_folds: int = 5
    concurrency: int = 4
    # A folder for every mode's document ranking as a TREC run file (<mode>.trec).
    save_runs: Path | None = None


@dataclass
class EvalReport:
    dataset: str
    split: str
    queries: int
    results: dict[str, dict[str, float]]
    latency_ms: dict[str, dict[str, float]]
    settings: dict[str, Any]
    sweep: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            "results": self.results,
            "latency_ms": self.latency_ms,
            "settings": self.settings,
        }
        if self.sweep:
            out["sweep"] = self.sweep
        return out


def run_eval(
    folder: Path, split: str, options: EvalOptions, ingest: IngestOptions, console: Console
) -> EvalReport:
    dataset = subset(load_dataset(folder, split, limit_queries=options.limit_queries), options.limit_docs)
    console.print(
        f"{dataset.name}/{split}: {len(dataset.corpus)} documents, {len(dataset.queries)} judged queries"
    )
    with ingested(dataset, ingest, console) as (pipeline, ingest_result):
        retrieval = pipeline.settings.retrieval
        needed = set(options.modes) | ({"bm25", "dense"} if options.sweep else set())
        runs = {
            mode: _run(pipeline.query_url, dataset, mode, options, console)
            for mode in MODES
            if mode in needed
        }
    report = EvalReport(
        dataset.name,
        split,
        len(dataset.queries),
        {m: evaluate(document_rankings(runs[m]), dataset.qrels) for m in options.modes},
        {m: _latency(runs[m]) for m in options.modes},
        _settings(options, ingest, ingest_result, retrieval, dataset),
    )
    if options.sweep:
        report.sweep = _sweep(runs, dataset, retrieval, options)
    if options.save_runs is not None:
        for mode, run in runs.items():
            write_trec(options.save_runs / f"{mode}.trec", document_rankings(run), f"ragstream-{mode}")
        # Chunk-level hits with each retriever's own scores: enough to re-fuse the run offline.
        write_hits(options.save_runs / "hits.json", runs)
        report.settings["runs"] = str(options.save_runs)
    return report


def rescore_saved(
    folder: Path, split: str, hits: Path, options: EvalOptions, retrieval: RetrievalSettings
) -> EvalReport:
    """The report of a run saved with `--save-runs` (its hits.json), scored and swept again without
    a pipeline: for choosing fusion settings on runs already made. The hybrid mode, when saved, is
    the ranking served then (re-fusing it with other settings is what the sweep is for)."""
    dataset = load_dataset(folder, split, limit_queries=options.limit_queries)
    runs = {mode: run for mode, run in read_hits(hits).items() if mode in MODES}
    modes = tuple(m for m in options.modes if m in runs)
    report = EvalReport(
        dataset.name,
        split,
        len(dataset.queries),
        {m: evaluate(document_rankings(runs[m]), dataset.qrels) for m in modes},
        {m: {"p50": 0.0, "p95": 0.0} for m in modes},
        {
            **_served(options, retrieval).as_settings(),
            "depth": DEPTH,
            "hits": str(hits),
        },
    )
    if options.sweep and {"bm25", "dense"} <= runs.keys():
        report.sweep = _sweep(runs, dataset, retrieval, options)
    return report


def _served(options: EvalOptions, retrieval: RetrievalSettings) -> FusionSetting:
    """The hybrid fusion the query API serves in this run: the run's overrides, else its settings."""
    return FusionSetting(
        options.fusion or retrieval.fusion,
        options.rrf_k or retrieval.rrf_k,
        options.alpha if options.alpha is not None else retrieval.convex_alpha,
        options.normalization or retrieval.normalization,
        options.sibling_weight if options.sibling_weight is not None else retrieval.sibling_weight,
    )


def _fusion_overrides(options: EvalOptions) -> dict[str, Any]:
    return {
        "fusion": options.fusion, "rrf_k": options.rrf_k, "alpha": options.alpha,
        "normalization": options.normalization, "sibling_weight": options.sibling_weight,
    }  # fmt: skip


def _run(query_url: str, dataset: Dataset, mode: str, options: EvalOptions, console: Console) -> ModeRun:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{mode} queries", total=len(dataset.queries))
        return asyncio.run(
            run_mode(
                query_url,
                dataset.queries,
                mode,
                fusion=_fusion_overrides(options) if mode == "hybrid" else None,
                concurrency=options.concurrency,
                on_done=lambda: progress.advance(task),
            )
        )


def _latency(run: ModeRun) -> dict[str, float]:
    ordered = sorted(run.latencies_ms)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }


def _settings(
    options: EvalOptions,
    ingest: IngestOptions,
    result: IngestResult,
    retrieval: RetrievalSettings,
    dataset: Dataset,
) -> dict[str, Any]:
    return {
        "chunking": ingest.chunking.model_dump(),
        **_served(options, retrieval).as_settings(),
        "model": ingest.model,
        "depth": DEPTH,
        "documents": result.documents,
        "chunks": result.chunks,
        "corpus_documents": len(dataset.corpus),
        "limit_docs": options.limit_docs,
        "limit_queries": options.limit_queries,
        "pipeline": result.tag,
        "reused_ingest": result.reused,
        "ingest_seconds": None if result.reused else round(result.seconds, 1),
    }


def _sweep(
    runs: dict[str, ModeRun], dataset: Dataset, retrieval: RetrievalSettings, options: EvalOptions
) -> list[dict[str, Any]]:
    served = _served(options, retrieval)
    bm25, dense = runs["bm25"], runs["dense"]
    rows: list[dict[str, Any]] = []
    for depth in sorted({DEPTH, retrieval.candidates}, reverse=True):
        baseline = per_query(fused_rankings(bm25, dense, served, depth), dataset.qrels)
        base_ndcg = {q: s["ndcg@10"] for q, s in baseline.items()}
        scored = sweep(bm25, dense, dataset.qrels, default_grid(), depth)
        for setting, scores in scored:
            delta, se = paired_difference({q: s["ndcg@10"] for q, s in scores.items()}, base_ndcg)
            rows.append({
                **setting.as_settings(), "candidates": depth,
                **mean_scores(scores), "ndcg@10_vs_served": delta, "ndcg@10_vs_served_se": se,
            })  # fmt: skip
        if depth == retrieval.candidates and options.cv_folds >= 2:
            rows.append(_cross_validation(scored, bm25, dense, dataset, depth, options.cv_folds))
    if "hybrid" in runs:
        # The server's own hybrid ranking must equal the local re-fusion of its two lists.
        rows.append(refusion_check(bm25, dense, runs["hybrid"], served))
    return rows


def _cross_validation(
    scored: list[tuple[FusionSetting, dict[str, dict[str, float]]]],
    bm25: ModeRun,
    dense: ModeRun,
    dataset: Dataset,
    depth: int,
    k: int,
) -> dict[str, Any]:
    """Hybrid with the fusion setting chosen on the other folds, beside each single retriever, fold
    by fold (the same folds), at the depth users get."""
    ndcg = [(setting, {q: s["ndcg@10"] for q, s in scores.items()}) for setting, scores in scored]
    cv = cross_validate(ndcg, k)
    single = {
        mode: fold_means(
            {q: s["ndcg@10"] for q, s in per_query(document_rankings(run), dataset.qrels).items()}, k
        )
        for mode, run in (("bm25", bm25), ("dense", dense))
    }
    return {
        "cross_validation": k,
        "candidates": depth,
        "hybrid_ndcg@10": cv.mean,
        "hybrid_ndcg@10_spread": cv.spread,
        "folds": [
            {
                "chosen": f.chosen.label,
                "held_out": f.held_out,
                "in_sample": f.in_sample,
                "queries": f.queries,
                "bm25": single["bm25"][i],
                "dense": single["dense"][i],
            }
            for i, f in enumerate(cv.folds)
        ],
        "bm25_ndcg@10": statistics.fmean(single["bm25"]),
        "dense_ndcg@10": statistics.fmean(single["dense"]),
    }
