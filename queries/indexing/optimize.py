"""Builds the HNSW graph of an embedded vector index in a process of its own.

qdrant-edge holds the GIL for a whole build (minutes at 100k points on two cores), so a build inside
the query API freezes every request it serves. A rebuild's new generation is not serving yet: its
vector index is closed, built here (`python -m ragstream.queries.indexing.optimize PATH DIMENSION`)
and reopened, while the query API goes on answering from the live generation.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex


class OptimizeFailed(Exception):
    """The child process could not build the graph (the index itself was reopened)."""


async def optimize_apart(index: QdrantEdgeVectorIndex) -> tuple[QdrantEdgeVectorIndex, str | None]:
    """Close `index`, build its HNSW graph in a child process and reopen it: the reopened index,
    and why the build failed, if it did (the index is reopened either way)."""
    path, dimension = index.path, index.dimension
    await asyncio.to_thread(index.close)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ragstream.queries.indexing.optimize", str(path), str(dimension),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await child.communicate()
    failure = None
    if child.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        failure = f"HNSW build of {path} failed (exit {child.returncode}): {' | '.join(tail)}"
    return await asyncio.to_thread(QdrantEdgeVectorIndex, path, dimension), failure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("dimension", type=int)
    args = parser.parse_args()
    index = QdrantEdgeVectorIndex(args.path, args.dimension)
    try:
        index.optimize()
    finally:
        index.close()


if __name__ == "__main__":
    main()
