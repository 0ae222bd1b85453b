"""`ragstream eval`: ingest a BEIR dataset through the pipeline, query every judged query per mode,
score the rankings at document level."""

from __future__ import annotations

import asyncio
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragstream.bench.eval.beir import Dataset, load_dataset, subset
from ragstream.bench.eval.ingest import IngestOptions, IngestResult, ingested
from ragstream.bench.eval.metrics import evaluate, mean_scores, paired_difference, per_query
from ragstream.bench.eval.retrieve import DEPTH, MODES, ModeRun, document_rankings, run_mode
from ragstream.bench.eval.sweep import FusionSetting, default_grid, fused_rankings, sweep
from ragstream.settings import RetrievalSettings


@dataclass(frozen=True)
class EvalOptions:
    modes: tuple[str, ...] = MODES
    # Per-request overrides of the query API's fusion settings; None keeps its configured default.
    fusion: str | None = None
    rrf_k: int | None = None
    alpha: float | None = None
    limit_queries: int | None = None
    limit_docs: int | None = None
    sweep: bool = False
    concurrency: int = 4
    # Where to write every mode's chunk-level hits, for analysis without re-querying.
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
        _save_runs(options.save_runs, runs)
    return report


def _save_runs(path: Path, runs: dict[str, ModeRun]) -> None:
    data = {
        mode: {
            q: [[h.document_id, h.chunk_id, h.version, h.score] for h in hits] for q, hits in run.hits.items()
        }
        for mode, run in runs.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _fusion_overrides(options: EvalOptions) -> dict[str, Any]:
    return {"fusion": options.fusion, "rrf_k": options.rrf_k, "alpha": options.alpha}


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
        "fusion": options.fusion or retrieval.fusion,
        "rrf_k": options.rrf_k or retrieval.rrf_k,
        "alpha": options.alpha if options.alpha is not None else retrieval.convex_alpha,
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
    served = FusionSetting(
        options.fusion or retrieval.fusion,
        options.rrf_k or retrieval.rrf_k,
        options.alpha if options.alpha is not None else retrieval.convex_alpha,
    )
    bm25, dense = runs["bm25"], runs["dense"]
    rows: list[dict[str, Any]] = []
    for depth in sorted({DEPTH, retrieval.candidates}, reverse=True):
        baseline = per_query(fused_rankings(bm25, dense, served, depth), dataset.qrels)
        base_ndcg = {q: s["ndcg@10"] for q, s in baseline.items()}
        for setting, scores in sweep(bm25, dense, dataset.qrels, default_grid(), depth):
            delta, se = paired_difference({q: s["ndcg@10"] for q, s in scores.items()}, base_ndcg)
            rows.append({
                "fusion": setting.fusion, "rrf_k": setting.rrf_k, "alpha": setting.alpha, "candidates": depth,
                **mean_scores(scores), "ndcg@10_vs_served": delta, "ndcg@10_vs_served_se": se,
            })  # fmt: skip
    if "hybrid" in runs:
        # The server's own hybrid ranking must equal the local re-fusion of its two lists.
        local = fused_rankings(bm25, dense, served)
        remote = document_rankings(runs["hybrid"])
        same = sum(local[q] == remote.get(q) for q in local) / max(1, len(local))
        rows.append({"check": "local re-fusion equals served hybrid ranking", "fraction": same})
    return rows
