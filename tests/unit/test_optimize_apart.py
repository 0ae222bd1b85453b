"""A rebuild builds its new generation's HNSW graph in a child process, so the query API's event loop
keeps running: qdrant-edge holds the GIL for the whole build."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest

from ragstream.queries.indexing.optimize import optimize_apart
from ragstream.queries.readmodels.base import IndexedChunk, SearchFilter
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex

pytestmark = pytest.mark.unit
DIM = 16


def chunks(count: int) -> list[IndexedChunk]:
    vectors = np.random.default_rng(1).standard_normal((count, DIM))
    return [
        IndexedChunk("t", f"d{i}", 1, 0, f"text {i}", vector=[float(x) for x in vectors[i]])
        for i in range(count)
    ]


async def test_the_graph_is_built_in_a_child_and_the_index_comes_back_whole(tmp_path: Path) -> None:
    index = QdrantEdgeVectorIndex(tmp_path / "vector", DIM)
    written = chunks(300)
    for chunk in written:
        index.replace_document("t", chunk.document_id, [chunk])
    index.flush()
    loop = asyncio.get_running_loop()
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    started = loop.time()
    reopened, failure = await optimize_apart(index)
    elapsed = loop.time() - started
    beating.cancel()

    assert failure is None
    assert reopened is not index and reopened.count() == 300
    hits = reopened.search(written[7].vector or [], SearchFilter("t"), 1)
    assert hits[0].chunk.document_id == "d7"
    assert ticks >= elapsed / 0.01 / 4  # the event loop kept turning throughout (a child startup included)
    reopened.close()


async def test_a_failed_build_is_reported_and_the_index_is_reopened_all_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = QdrantEdgeVectorIndex(tmp_path / "vector", DIM)
    index.replace_document("t", "d0", chunks(1))
    index.flush()
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a child that fails at once

    reopened, failure = await optimize_apart(index)

    assert failure is not None and "exit 1" in failure
    assert reopened.count() == 1  # still usable: searches scan until a build succeeds
    reopened.close()
