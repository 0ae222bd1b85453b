"""`bench ingest`: end-to-end chunks/s through the whole pipeline against the raw model on the same
chunk texts, model and batch size, in one run on one machine; with several encoder backends, each
pipeline against the fp32 torch one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragstream.bench.corpus import chunk_texts, documents
from ragstream.bench.memory import PeakMemory
from ragstream.bench.pipeline import BenchPipeline, fresh_pipeline
from ragstream.bench.profile import Profiles
from ragstream.contracts import UpsertDocument
from ragstream.embedding import Embedder, load_embedder
from ragstream.settings import get_settings

REFERENCE = "torch-fp32"


def run(
    docs: int, workers: int = 1, profile: Path | None = None, backends: Sequence[str] = ("auto",)
) -> dict[str, Any]:
    """One fresh pipeline per encoder backend (the workers and query API run with it), one after the
    other on the same documents, then each backend's raw model on the same chunk texts."""
    settings = get_settings()
    commands = documents(docs)
    texts = chunk_texts(commands, settings.chunking)
    runs: dict[str, dict[str, Any]] = {}
    for backend in backends:
        runs[backend] = _pipeline_run(commands, backend, workers, profile)
    # The pipelines are gone: each model now has both cores to itself, as the worker had.
    with PeakMemory() as memory:
        for backend in backends:
            embedder, embed_s, model_load_s = _embed_only(texts, backend)
            rate = len(texts) / embed_s
            runs[backend].update(
                version=embedder.version,
                embed_only_s=round(embed_s, 2),
                embed_only_chunks_per_s=round(rate, 2),
                ratio=round(runs[backend]["pipeline_chunks_per_s"] / rate, 3),
                model_load_s=round(model_load_s, 2),
            )
        peaks = memory.peaks_mb()
    reference = runs.get(REFERENCE)
    return {
        "bench": "ingest",
        "docs": docs,
        "workers": workers,
        "batch_size": settings.embedding.batch_size,
        "max_passages_per_call": settings.embedding.max_passages_per_call,
        "model": settings.embedding.model,
        "runs": runs,
        # Each pipeline against the fp32 torch pipeline of the same run (same texts, same machine).
        "pipeline_speedup_vs_torch_fp32": {
            b: round(r["pipeline_chunks_per_s"] / reference["pipeline_chunks_per_s"], 3)
            for b, r in runs.items()
        }
        if reference
        else None,
        "peak_rss_mb": peaks,
    }


def _pipeline_run(
    commands: list[UpsertDocument], backend: str, workers: int, profile: Path | None
) -> dict[str, Any]:
    holder: dict[str, BenchPipeline] = {}
    # Memory per run: the processes of two runs share their names.
    with PeakMemory(lambda: holder["p"].process_names() if "p" in holder else {}) as memory:
        env = {"RAGSTREAM_EMBEDDING__BACKEND": backend}
        with fresh_pipeline("ingest", workers=workers, env=env) as pipeline:
            holder["p"] = pipeline
            pipeline.warm_up()
            before = pipeline.ready()
            metrics_before = pipeline.worker_metrics()
            with Profiles(profile, pipeline.process_names()) as profiles, _progress(pipeline) as progress:
                pipeline_s = pipeline.ingest(commands)
            after = pipeline.ready()
            metrics = _delta(pipeline.worker_metrics(), metrics_before)
        peaks = memory.peaks_mb()
    chunks = after["chunks"] - before["chunks"]
    return {
        "chunks": chunks,
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_chunks_per_s": round(chunks / pipeline_s, 2),
        "worker_model": _model_share(metrics, pipeline_s),
        "profile": profiles.summaries() or None,
        "peak_rss_mb": {k: v for k, v in peaks.items() if k != "bench"},
        # [seconds, chunks searchable] while it ran, for --plot (throughput over time); never printed.
        "_samples_progress": [[t, c - before["chunks"]] for t, c in progress],
    }  # fmt: skip


@contextmanager
def _progress(pipeline: BenchPipeline, every_s: float = 1.0) -> Iterator[list[tuple[float, int]]]:
    """Samples the query node's chunk count while the block runs (a thread: the ingest blocks)."""
    points: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not stop.wait(every_s):
            try:
                points.append((round(time.perf_counter() - started, 2), pipeline.ready()["chunks"]))
            except Exception:  # a slow status page costs a point, not the benchmark
                continue

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield points
    finally:
        stop.set()
        thread.join()
    # The end point: the ingest returns the moment the last chunk is searchable.
    points.append((round(time.perf_counter() - started, 2), pipeline.ready()["chunks"]))


def _model_share(metrics: dict[str, float], wall_s: float) -> dict[str, float] | None:
    """Where the workers' time went: model calls against the wall time of the run (None when the
    workers' metrics page is unavailable)."""
    calls = metrics.get("ragstream_embedding_seconds_count", 0.0)
    if not calls:
        return None
    model_s = metrics.get("ragstream_embedding_seconds_sum", 0.0)
    return {
        "seconds": round(model_s, 2),
        "share_of_wall": round(model_s / wall_s, 3),
        "calls": int(calls),
        "passages_per_call": round(metrics.get("ragstream_embedding_batch_size_sum", 0.0) / calls, 1),
    }


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def _embed_only(texts: list[str], backend: str) -> tuple[Embedder, float, float]:
    settings = get_settings().embedding.model_copy(update={"backend": backend})
    started = time.perf_counter()
    embedder = load_embedder(settings, "passages")
    embedder.embed_passages(texts[:8])  # first call pays for lazy initialisation
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    embedder.embed_passages(texts)
    return embedder, time.perf_counter() - started, loaded
