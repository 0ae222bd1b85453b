"""`--plot DIR` for `ragstream bench` and `ragstream eval`: PNG charts of a result (matplotlib, Agg
backend: no display needed), where people would rather look than read a table.

A benchmark hands over its raw samples under keys starting with `_samples` (taken out of the
result before it is printed, see `take_samples`); an eval report plots from its JSON alone, so a
saved report can be drawn again (`ragstream bench plot REPORT.json DIR`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

SAMPLES = "_samples"
DPI = 110


def take_samples(result: dict[str, Any], path: str = "") -> dict[str, list[Any]]:
    """Removes every `_samples*` key from `result` (nested too) and returns them by where they were:
    `{"10000 search": [...], ...}` for `result["sizes"]["10000"]["search"]["_samples_ms"]`."""
    found: dict[str, list[Any]] = {}
    for key in list(result):
        value = result[key]
        if key.startswith(SAMPLES):
            found[path or key.removeprefix(SAMPLES).strip("_") or "samples"] = list(result.pop(key))
        elif isinstance(value, dict):
            found.update(take_samples(value, f"{path} {key}".strip()))
    return found


def _save(fig: Figure, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _cdf(ax: Axes, series: Mapping[str, Sequence[float]], unit: str) -> None:
    for label, values in series.items():
        ordered = sorted(values)
        if not ordered:
            continue
        ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.step(ordered, ys, where="post", label=f"{label} (n={len(ordered)})")
    for q in (0.5, 0.95, 0.99):
        ax.axhline(q, color="0.8", linewidth=0.8, zorder=0)
    ax.set_xlabel(unit)
    ax.set_ylabel("fraction of requests at or below")
    ax.set_ylim(0, 1.01)
    ax.grid(True, axis="x", color="0.92")
    ax.legend(loc="lower right", fontsize="small")


def latency_cdf(series: Mapping[str, Sequence[float]], out: Path, name: str, title: str, unit: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    _cdf(ax, series, unit)
    ax.set_title(title)
    return _save(fig, out, name)


def histogram(values: Sequence[float], out: Path, name: str, title: str, unit: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(values, bins=min(40, max(5, len(values) // 5)), color="#0a58ca")
    ax.set_xlabel(unit)
    ax.set_ylabel("documents")
    ax.set_title(title)
    return _save(fig, out, name)


def throughput(
    progress: Sequence[Sequence[float]], out: Path, name: str, title: str, window_s: float = 10.0
) -> Path:
    """Chunks searchable over time, and the rate over a trailing window (the workers embed in
    large batches, so the rate between two samples is all spikes)."""
    times = [float(t) for t, _ in progress]
    chunks = [float(c) for _, c in progress]
    rates = []
    for i, t in enumerate(times):
        j = next(k for k, u in enumerate(times) if u >= t - window_s)
        rates.append((chunks[i] - chunks[j]) / (t - times[j]) if t > times[j] else 0.0)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(times, chunks, color="#0a58ca", label="chunks searchable")
    ax.set_xlabel("seconds since the first write")
    ax.set_ylabel("chunks searchable")
    rate_ax = ax.twinx()
    rate_ax.plot(times, rates, color="#bf8700", alpha=0.8, label=f"chunks/s over the last {window_s:g} s")
    rate_ax.set_ylabel("chunks/s")
    handles = ax.get_legend_handles_labels()[0] + rate_ax.get_legend_handles_labels()[0]
    ax.legend(handles, [str(h.get_label()) for h in handles], loc="upper left", fontsize="small")
    ax.set_title(title)
    return _save(fig, out, name)


def plot_bench(result: Mapping[str, Any], samples: Mapping[str, Sequence[Any]], out: Path) -> list[Path]:
    """The charts a benchmark's samples make: a latency CDF (query), a histogram and CDF (freshness),
    throughput over time (ingest)."""
    kind = str(result.get("bench", "bench"))
    if not samples:
        return []
    if kind == "ingest":
        # One pipeline per encoder backend: samples are keyed "runs <backend> progress".
        charts = []
        for where, progress in samples.items():
            backend = where.split()[1] if where.startswith("runs ") else ""
            title = f"Ingest of {result.get('docs')} documents, {result.get('workers')} worker(s) {backend}"
            name = f"ingest-throughput-{backend}" if backend else "ingest-throughput"
            if len(progress) > 1:
                charts.append(throughput(progress, out, name, title.rstrip()))
        return charts
    if kind == "freshness":
        values = next(iter(samples.values()))
        load = result.get("load_per_s")
        return [
            histogram(
                values, out, "freshness-histogram", f"Write → searchable at {load} documents/s", "seconds"
            ),
            latency_cdf(
                {"write → searchable": values},
                out,
                "freshness-cdf",
                "Write → searchable, cumulative",
                "seconds",
            ),
        ]
    if kind == "query":
        by_kind: dict[str, dict[str, Sequence[float]]] = {}
        for label, values in samples.items():
            size, _, what = label.removeprefix("sizes ").partition(" ")
            by_kind.setdefault(what, {})[f"{int(size):,} chunks"] = values
        return [
            latency_cdf(
                series, out, f"query-{what}-latency-cdf", f"{what} latency (hybrid, in-process)", "ms"
            )
            for what, series in by_kind.items()
        ]
    return [latency_cdf(samples, out, f"{kind}-latency-cdf", f"{kind} latency", "ms")]


def _by_mode(ax: Axes, results: Mapping[str, Mapping[str, float]]) -> None:
    metrics = ["ndcg@10", "recall@100", "mrr@10"]
    modes = list(results)
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        xs = [m + i * width for m in range(len(modes))]
        values = [results[mode].get(metric, 0.0) for mode in modes]
        bars = ax.bar(xs, values, width, label=metric)
        ax.bar_label(bars, fmt="%.3f", fontsize="x-small", padding=2)
    ax.set_xticks([m + width for m in range(len(modes))], modes)
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper center", ncols=len(metrics), fontsize="small")


def _sweep(axes: Sequence[Axes], sweep: Sequence[Mapping[str, Any]]) -> None:
    points = [p for p in sweep if "fusion" in p]
    convex_ax, rrf_ax = axes
    # One curve per normalisation and sibling weight (reports from before either have neither).
    curves = sorted(
        {
            (p.get("normalization", "min-max"), p.get("sibling_weight", 0.0))
            for p in points
            if p["fusion"] == "convex"
        }
    )
    depths = sorted({int(p["candidates"]) for p in points})
    for candidates in depths:
        # Many curves at each depth would hide each other: then only the fewest candidates (what an
        # ordinary page fuses) are drawn for convex fusion.
        for how, siblings in curves if len(curves) == 1 or candidates == depths[0] else ():
            convex = sorted((p["alpha"], p["ndcg@10"]) for p in points
                            if p["fusion"] == "convex" and p["candidates"] == candidates
                            and p.get("normalization", "min-max") == how
                            and p.get("sibling_weight", 0.0) == siblings)  # fmt: skip
            label = f"{candidates} candidates" + ("" if len(curves) == 1 else f", {how}")
            label += f", siblings {siblings:g}" if siblings else ""
            if convex:
                convex_ax.plot(*zip(*convex, strict=True), marker="o", label=label)
        rrf = sorted((p["rrf_k"], p["ndcg@10"]) for p in points
                     if p["fusion"] == "rrf" and p["candidates"] == candidates)  # fmt: skip
        if rrf:
            rrf_ax.plot(*zip(*rrf, strict=True), marker="o", label=f"{candidates} candidates")
    convex_ax.set_xlabel("convex alpha (weight of the dense score)")
    convex_ax.set_ylabel("nDCG@10")
    rrf_ax.set_xscale("log")
    rrf_ax.set_xlabel("RRF k")
    for ax in axes:
        ax.grid(True, color="0.92")
        if ax.get_legend_handles_labels()[0]:  # a report may lack RRF or convex points
            ax.legend(fontsize="x-small" if len(curves) > 4 else "small")


def plot_eval(report: Mapping[str, Any], out: Path) -> list[Path]:
    """nDCG@10 (and Recall@100, MRR@10) per mode, the fusion sweep's curves, and query latency."""
    name = f"{report.get('dataset', 'eval')}-{report.get('split', '')}".strip("-").lower()
    paths = []
    results = report.get("results") or {}
    if results:
        fig, ax = plt.subplots(figsize=(7, 4))
        _by_mode(ax, results)
        ax.set_title(f"{name}: retrieval quality per mode ({report.get('queries', '?')} queries)")
        paths.append(_save(fig, out, f"eval-{name}-by-mode"))
    sweep = report.get("sweep") or []
    if any("fusion" in p for p in sweep):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        _sweep(axes, sweep)
        fig.suptitle(f"{name}: hybrid fusion sweep (nDCG@10)")
        paths.append(_save(fig, out, f"eval-{name}-fusion-sweep"))
    latency = report.get("latency_ms") or {}
    if latency:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        modes = list(latency)
        for i, q in enumerate(("p50", "p95")):
            bars = ax.bar([m + i * 0.4 for m in range(len(modes))], [latency[m].get(q, 0) for m in modes], 0.4,
                          label=q)  # fmt: skip
            ax.bar_label(bars, fmt="%.0f", fontsize="x-small", padding=2)
        ax.set_xticks([m + 0.2 for m in range(len(modes))], modes)
        ax.set_ylabel("ms per query (over HTTP)")
        ax.set_title(f"{name}: query latency per mode")
        ax.legend(fontsize="small")
        paths.append(_save(fig, out, f"eval-{name}-latency"))
    return paths
