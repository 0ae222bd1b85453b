"""`bench encoder`: the encoder backends side by side on the same chunk texts.

Every backend is loaded in this process and measured in interleaved rounds (backend A, B, C, then
again), so a load change on a shared machine hits all of them alike; passages/s is the median over
the rounds. Query latency embeds the bench questions one at a time. Agreement is the cosine of each
backend's vectors with fp32 torch's on the same texts. Peak memory is measured apart, in a fresh
child process per backend that loads it and embeds a few texts, so backends do not share a figure.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragstream.bench.corpus import chunk_texts, documents
from ragstream.bench.query import QUESTIONS
from ragstream.bench.stats import percentile
from ragstream.embedding import Embedder, load_embedder
from ragstream.embedding.backends import (
    ANY_CPU,
    AUTO_PREFERENCE,
    BACKENDS,
    auto_backend,
    cpu_flags,
    unsupported_reason,
)
from ragstream.settings import EmbeddingSettings, get_settings

REFERENCE = "torch-fp32"


def run(backends: Sequence[str], texts_count: int, rounds: int, queries: int) -> dict[str, Any]:
    settings = get_settings()
    texts = chunk_texts(documents(max(1, texts_count // 4)), settings.chunking)[:texts_count]
    names = [REFERENCE, *(b for b in backends if b != REFERENCE)]
    skipped = {n: r for n in names if (r := unsupported_reason(BACKENDS[n], ANY_CPU)) is not None}
    names = [n for n in names if n not in skipped]
    # Measured all the same: the flags are a guess at where a backend is fast, and this is how a
    # wrong guess shows (bf16 without AMX was slow on one Xeon, fast on a Zen 5 EPYC).
    unpicked = {n: r for n in names if (r := unsupported_reason(BACKENDS[n], cpu_flags())) is not None}
    embedders: dict[str, Embedder] = {}
    load_s: dict[str, float] = {}
    for name in names:
        started = time.perf_counter()
        embedders[name] = load_embedder(_settings(settings.embedding, name), any_cpu=True)
        embedders[name].embed_passages(texts[:8])  # lazy initialisation, untimed
        load_s[name] = time.perf_counter() - started
    rates: dict[str, list[float]] = {n: [] for n in names}
    vectors: dict[str, np.ndarray[Any, Any]] = {}
    for _ in range(rounds):
        for name in names:
            started = time.perf_counter()
            vectors[name] = embedders[name].embed_passages(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    latencies: dict[str, list[float]] = {n: [] for n in names}
    for i in range(queries):
        for name in names:
            started = time.perf_counter()
            embedders[name].embed_query(QUESTIONS[i % len(QUESTIONS)] + f" {i}")
            latencies[name].append(time.perf_counter() - started)
    reference_rate = statistics.median(rates[REFERENCE]) if REFERENCE in rates else float("nan")
    results = {}
    for name in names:
        rate = statistics.median(rates[name])
        cosines = np.sum(vectors[name] * vectors[REFERENCE], axis=1) if REFERENCE in vectors else None
        results[name] = {
            "version": embedders[name].version,
            "passages_per_s": round(rate, 2),
            "passages_per_s_rounds": [round(r, 2) for r in rates[name]],
            "speedup_vs_fp32": round(rate / reference_rate, 3),
            "query_p50_ms": round(percentile(latencies[name], 50) * 1000, 2),
            "query_p99_ms": round(percentile(latencies[name], 99) * 1000, 2),
            "cosine_vs_fp32": None
            if cosines is None
            else {"min": round(float(cosines.min()), 6), "mean": round(float(cosines.mean()), 6)},
            "load_s": round(load_s[name], 2),
            **_alone(name),
        }
    return {
        "bench": "encoder",
        "texts": len(texts),
        "rounds": rounds,
        "queries": queries,
        "batch_size": settings.embedding.batch_size,
        "model": settings.embedding.model,
        "backends": results,
        "skipped": skipped,
        # Measured, but never picked by "auto" on this CPU, and why.
        "not_auto_here": unpicked,
        "auto": {role: auto_backend(role) for role in AUTO_PREFERENCE},
    }


def _settings(base: EmbeddingSettings, backend: str) -> EmbeddingSettings:
    return base.model_copy(update={"backend": backend})


def _alone(backend: str) -> dict[str, Any]:
    """Peak RSS (MiB) of a fresh process that loads this backend and embeds a few texts, and
    whether that process imported torch (a query node on ONNX Runtime must not)."""
    code = (
        "import json, sys\n"
        "from ragstream.embedding import load_embedder\n"
        "from ragstream.settings import get_settings\n"
        "s = get_settings().embedding.model_copy(update={'backend': sys.argv[1]})\n"
        "e = load_embedder(s, any_cpu=True)\n"
        "e.embed_passages(['a short passage'] * 32)\n"
        "e.embed_query('a query')\n"
        # VmHWM, not ru_maxrss: the latter starts from the parent's peak across fork and exec.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'rss': int(hwm) / 1024}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, backend], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        return {"peak_rss_mb": None, "imports_torch": None}
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": round(float(measured["rss"]), 1), "imports_torch": bool(measured["torch"])}
