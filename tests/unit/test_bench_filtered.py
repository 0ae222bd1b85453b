"""`bench filtered` scores each filtered search against an exact search over the same points."""

from __future__ import annotations

import numpy as np
import pytest

from ragstream.bench import filtered

pytestmark = pytest.mark.unit


def test_searches_below_the_full_scan_threshold_score_as_exact_ones() -> None:
    # 3,000 points: every filter keeps fewer than qdrant's full-scan threshold, so each search is
    # exact and must find the whole exact top 10; a wrong mapping from hits back to points, or a
    # filter that meant something else than its mask, would show here as a lower recall.
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((3_040, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    result = filtered.run(queries=40, vectors=vectors)
    assert result["points"] == 3_000 and set(result["filters"]) >= {"tenant", "tenant_source_y"}
    for name, case in result["filters"].items():
        assert case["points"] > 0, name
        for label in ("ragstream", "qdrant_defaults"):
            assert case[label]["recall_at_10"] == 1.0, (name, label)
