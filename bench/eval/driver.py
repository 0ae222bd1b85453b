"""Drives a running LocalPipeline from outside, as any client would: commands through the producer SDK,
progress and read-your-writes through the query API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx

from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import DocumentCommand, WritePosition
from ragstream.local.pipeline import LocalPipeline
from ragstream.local.processes import ProcessFailed
from ragstream.settings import Settings

DEFAULT_BATCH = 256


def merge_positions(positions: Iterable[WritePosition]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for position in positions:
        merged[position.partition] = max(merged.get(position.partition, -1), position.offset)
    return merged


def token_of(positions: dict[int, int]) -> str:
    """One consistency token for many writes: the last offset written per partition."""
    return ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))


async def send_commands(
    settings: Settings,
    commands: Sequence[DocumentCommand],
    *,
    batch: int = DEFAULT_BATCH,
    on_sent: Callable[[int], None] | None = None,
) -> dict[int, int]:
    """Writes every command (batched) and returns the last position per partition."""
    positions: dict[int, int] = {}
    async with CommandProducer(settings) as producer:
        for start in range(0, len(commands), batch):
            part = commands[start : start + batch]
            written = await producer.send_many(part)
            for partition, offset in merge_positions(w.position for w in written).items():
                positions[partition] = max(positions.get(partition, -1), offset)
            if on_sent is not None:
                on_sent(len(part))
    return positions


def send_commands_sync(settings: Settings, commands: Sequence[DocumentCommand], **kw: Any) -> dict[int, int]:
    return asyncio.run(send_commands(settings, commands, **kw))


def wait_until_settled(
    pipeline: LocalPipeline, *, timeout_s: float, on_wait: Callable[[], None] | None = None
) -> float:
    """Blocks while the query API's vector index has an HNSW build due or running, and returns the
    seconds waited. Vector searches can change when the build lands, so queries sent across it would
    not be comparable: the served hybrid ranking of a query would not be the re-fusion of the dense
    ranking the same run recorded a minute earlier."""
    started = time.monotonic()
    while pipeline.node_status().get("vector_index_optimizing"):
        check_alive(pipeline)
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"the vector index was still being optimized after {timeout_s:.0f}s")
        if on_wait is not None:
            on_wait()
        time.sleep(1)
    return time.monotonic() - started


def check_alive(pipeline: LocalPipeline) -> None:
    for process in pipeline.processes.values():
        if not process.alive():
            raise ProcessFailed(
                f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"
            )


def wait_for_token(
    pipeline: LocalPipeline,
    token: str,
    *,
    timeout_s: float,
    on_wait: Callable[[], None] | None = None,
) -> float:
    """Blocks until the query API has applied every write of `token`; returns the seconds waited.

    The query API holds a request with a consistency token until it is caught up (504 after its own
    timeout), so this loop costs one cheap BM25 search per timeout, not a poll per record.
    """
    started = time.monotonic()
    body = {"query": "consistency", "limit": 1, "mode": "bm25", "consistency_token": token}
    with httpx.Client(timeout=120) as client:
        while True:
            try:
                response = client.post(f"{pipeline.query_url}/v1/search", json=body)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                return time.monotonic() - started
            if response is not None and response.status_code not in (503, 504):
                raise RuntimeError(f"waiting for {token}: {response.status_code} {response.text}")
            check_alive(pipeline)
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the pipeline did not reach {token} within {timeout_s:.0f}s")
            if on_wait is not None:
                on_wait()
            if response is None:
                time.sleep(1)
