"""Builds the HNSW graph of an embedded vector index in a process of its own.

qdrant-edge holds the GIL for a whole build (minutes at 100k points on two cores), so a build inside
the query API freezes every request it serves. A rebuild's new generation is not serving yet: its
vector index is closed, built here (`python -m ragstream.queries.indexing.optimize PATH DIMENSION`)
and reopened, while the query API goes on answering from the live generation. The live generation's
index is serving, so its graph is built on a copy beside it, which then takes its place.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex

# An index replaced by its built copy stays open this long, so that searches which picked it up just
# before the swap finish on it instead of failing on a closed index.
RETIRE_GRACE_S = 10.0
_retiring: set[asyncio.Task[None]] = set()


class OptimizeFailed(Exception):
    """The child process could not build the graph (the index itself was reopened)."""


async def optimize_apart(index: QdrantEdgeVectorIndex) -> tuple[QdrantEdgeVectorIndex, str | None]:
    """Close `index`, build its HNSW graph in a child process and reopen it: the reopened index,
    and why the build failed, if it did (the index is reopened either way)."""
    path, dimension = index.path, index.dimension
    await asyncio.to_thread(index.close)
    failure = await _build_in_child(path, dimension)
    return await asyncio.to_thread(QdrantEdgeVectorIndex, path, dimension), failure


async def build_beside(
    index: QdrantEdgeVectorIndex, target: Path, write_lock: threading.Lock, copied: Callable[[], None]
) -> tuple[QdrantEdgeVectorIndex | None, str | None]:
    """Copy `index` to `target` (under `write_lock`, which its writers hold, calling `copied` before
    the lock is let go), build the copy's HNSW graph in a child process and open it, while `index`
    goes on serving searches and taking writes: the built copy, or None and why not (`target` is
    removed then). The writes made after the copy are not in it: the caller makes them again."""

    def copy() -> None:
        with write_lock:
            index.flush()
            shutil.rmtree(target, ignore_errors=True)  # what a crash mid-build left
            # The shard's write-ahead-log lock is a lock on the open file, which a copy does not take along.
            shutil.copytree(index.path, target)
            copied()

    try:
        await asyncio.to_thread(copy)
        failure = await _build_in_child(target, index.dimension)
        if failure is None:
            return await asyncio.to_thread(QdrantEdgeVectorIndex, target, index.dimension), None
    except Exception as exc:  # a full disk, a copy that does not open: the index stays as it was
        failure = f"HNSW build of a copy of {index.path} failed: {exc}"
    await asyncio.to_thread(shutil.rmtree, target, True)
    return None, failure


def discard(index: QdrantEdgeVectorIndex) -> None:
    """Close a built copy that will not be used and remove its folder."""
    index.close()
    shutil.rmtree(index.path, ignore_errors=True)


def retire_replaced(index: QdrantEdgeVectorIndex) -> None:
    """Close `index` and remove its folder once the grace has passed (a shutdown meanwhile leaves
    the folder to `remove_stale_vector_folders` at the next start)."""

    async def later() -> None:
        await asyncio.sleep(RETIRE_GRACE_S)
        await asyncio.to_thread(discard, index)

    task = asyncio.create_task(later(), name=f"retire {index.path}")
    _retiring.add(task)  # the loop keeps only a weak reference to a task
    task.add_done_callback(_retiring.discard)


async def _build_in_child(path: Path, dimension: int) -> str | None:
    """Why the child could not build the graph of the (closed) index at `path`; None once built."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ragstream.queries.indexing.optimize", str(path), str(dimension),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await child.communicate()
    except asyncio.CancelledError:  # a shutdown: the build goes with it
        child.kill()
        await child.wait()
        raise
    if child.returncode == 0:
        return None
    tail = err.decode(errors="replace").strip().splitlines()[-3:]
    return f"HNSW build of {path} failed (exit {child.returncode}): {' | '.join(tail)}"


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
