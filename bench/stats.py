"""Percentiles and the one-line JSON result every benchmark ends with."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always one of the measured values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds: Sequence[float], wall_s: float, unit: str = "ms") -> dict[str, float]:
    scale = 1000.0 if unit == "ms" else 1.0
    return {
        f"p50_{unit}": round(percentile(seconds, 50) * scale, 3),
        f"p95_{unit}": round(percentile(seconds, 95) * scale, 3),
        f"p99_{unit}": round(percentile(seconds, 99) * scale, 3),
        "qps": round(len(seconds) / wall_s, 2) if wall_s > 0 else math.nan,
    }


def stage_p50(timings: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The p50 of each stage over requests' `timings_ms` (milliseconds in, milliseconds out)."""
    stages: dict[str, list[float]] = {}
    for timing in timings:
        for stage, ms in timing.items():
            stages.setdefault(stage, []).append(ms)
    return {stage: round(percentile(values, 50), 3) for stage, values in sorted(stages.items())}


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model or platform.processor(),
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "load_1m": round(psutil.getloadavg()[0], 2),
    }


def emit(result: dict[str, Any], json_output: bool) -> None:
    """The JSON object is always the last line; without --json it is pretty-printed instead."""
    result = {**result, "machine": machine()}
    print(json.dumps(result) if json_output else json.dumps(result, indent=2), flush=True)
