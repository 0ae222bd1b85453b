"""`bench ingest`: end-to-end chunks/s through the whole pipeline against the raw model on the same
chunk texts, model and batch size, in one run on one machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragstream.bench.corpus import chunk_texts, documents
from ragstream.bench.memory import PeakMemory
from ragstream.bench.pipeline import BenchPipeline, fresh_pipeline
from ragstream.bench.profile import Profiles
from ragstream.embedding import load_embedder
from ragstream.settings import get_settings


def run(docs: int, workers: int = 1, profile: Path | None = None) -> dict[str, Any]:
    settings = get_settings()
    commands = documents(docs)
    texts = chunk_texts(commands, settings.chunking)
    holder: dict[str, BenchPipeline] = {}
    with PeakMemory(lambda: holder["p"].process_names() if "p" in holder else {}) as memory:
        with fresh_pipeline("ingest", workers=workers) as pipeline:
            holder["p"] = pipeline
            pipeline.warm_up()
            before = pipeline.ready()
            metrics_before = pipeline.worker_metrics()
            with Profiles(profile, pipeline.process_names()) as profiles, _progress(pipeline) as progress:
                pipeline_s = pipeline.ingest(commands)
            after = pipeline.ready()
            metrics = _delta(pipeline.worker_metrics(), metrics_before)
        chunks = after["chunks"] - before["chunks"]
        # The pipeline is gone: the model now has both cores to itself, as the worker had.
        embed_s, model_load_s = _embed_only(texts)
        peaks = memory.peaks_mb()
    pipeline_rate = chunks / pipeline_s
    embed_rate = len(texts) / embed_s
    return {
        "bench": "ingest",
        "docs": docs,
        "chunks": chunks,
        "workers": workers,
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_chunks_per_s": round(pipeline_rate, 2),
        "embed_only_s": round(embed_s, 2),
        "embed_only_chunks_per_s": round(embed_rate, 2),
        "ratio": round(pipeline_rate / embed_rate, 3),
        "batch_size": settings.embedding.batch_size,
        "model": settings.embedding.model,
        "model_load_s": round(model_load_s, 2),
        "worker_model": _model_share(metrics, pipeline_s),
        "profile": profiles.summaries() or None,
        "peak_rss_mb": peaks,
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


def _embed_only(texts: list[str]) -> tuple[float, float]:
    settings = get_settings()
    started = time.perf_counter()
    embedder = load_embedder(settings.embedding)
    embedder.embed_passages(texts[:8])  # first call pays for lazy initialisation
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    embedder.embed_passages(texts)
    return time.perf_counter() - started, loaded
