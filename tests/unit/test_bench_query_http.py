"""`bench query --http`'s per-kind summary: the client's latencies, the server's stage timings, and
the server's CPU time per request."""

from __future__ import annotations

import os
import time

import pytest

from ragstream.bench.query_http import _timed

pytestmark = pytest.mark.unit


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_server_cpu_is_what_the_server_spent_per_request() -> None:
    # This process plays the server: each "request" burns 20 ms of its CPU, or sleeps 20 ms.
    def busy(i: int) -> dict[str, float]:
        burn(0.02)
        return {"embed": float(i)}

    def idle(i: int) -> dict[str, float]:
        time.sleep(0.02)
        return {"embed": 1.0}

    worked = _timed(busy, range(5), os.getpid())
    waited = _timed(idle, range(5), os.getpid())
    assert 20 <= worked["server_cpu_ms"] < 40  # per request: the five together took 100 ms
    assert worked["stage_p50_ms"] == {"embed": 2.0}
    assert waited["server_cpu_ms"] < 10
