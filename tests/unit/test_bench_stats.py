"""The summaries every benchmark line is made of: nearest-rank percentiles and per-stage medians."""

from __future__ import annotations

import math

from ragstream.bench.stats import latency_summary, percentile, stage_p50


def test_percentile_is_always_a_measured_value() -> None:
    values = [0.5, 0.1, 0.4, 0.2, 0.3]
    assert percentile(values, 50) == 0.3
    assert percentile(values, 99) == 0.5
    assert percentile(values, 0) == 0.1
    assert math.isnan(percentile([], 50))


def test_stage_medians_cover_stages_some_requests_lack() -> None:
    # An answer times a generation stage that a search does not; each stage is summarised over the
    # requests that timed it, not padded with zeros.
    timings = [
        {"bm25": 4.0, "embed": 7.0},
        {"bm25": 6.0, "embed": 5.0, "generation": 2.5},
        {"bm25": 5.0, "embed": 6.0},
    ]
    assert stage_p50(timings) == {"bm25": 5.0, "embed": 6.0, "generation": 2.5}
    assert stage_p50([]) == {}


def test_latency_summary_reports_milliseconds_and_throughput() -> None:
    summary = latency_summary([0.010, 0.020, 0.030, 0.040], wall_s=0.1)
    assert summary["p50_ms"] == 20.0
    assert summary["p99_ms"] == 40.0
    assert summary["qps"] == 40.0
