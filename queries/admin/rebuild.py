"""Blue/green rebuild: a new generation built from the embeddings topic while queries are served
from the current one, then swapped in.

The new generation has its own feed from the start of the log. Live writes keep reaching the
current generation through the live feed and the new one through its own feed, so none is lost.
Once the new feed has caught up with the live one, the live feed pauses between batches, the new
feed passes the live feed's position, and the live feed adopts the new generation and consumer in
one synchronous step. The previous generation stays on disk until dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from queries.admin.jobs import AdminInvalid, Job
from queries.indexing.feed import IndexFeed, has_reached
from queries.indexing.generation import Generation, Manifest, next_generation_name, write_manifest
from queries.indexing.reembed import Reembedder
from ragstream.codec import AvroSingleObjectCodec
from ragstream.exceptions import ConfigurationError
from ragstream.settings import EmbeddingSettings, KafkaSettings
from streams.embedding import Embedder, load_embedder

# How long the live feed may stay paused while the new one passes it; the new feed is within a
# batch or two of the live one when the pause starts, so this is a safety net, not a wait.
SWAP_CATCH_UP_S = 30.0
Swap = Callable[[IndexFeed, Manifest, Embedder], Awaitable[None]]


@dataclass
class RebuildPlan:
    root: Path
    kafka: KafkaSettings
    topic: str
    codec: AvroSingleObjectCodec
    live: Callable[[], IndexFeed]
    embedder: Embedder
    model_path: str | None


class RebuildFailed(Exception):
    pass


async def rebuild(job: Job, plan: RebuildPlan, swap: Swap) -> None:
    root = plan.root
    name = next_generation_name(root)
    job.generation = name
    model = plan.embedder
    manifest = Manifest.new(name, "rebuild", job.read_model, model.name, plan.model_path, model.dimension)
    write_manifest(root, manifest)
    job.detail = {"embedding_model": model.name, "dimension": model.dimension}
    generation = await asyncio.to_thread(Generation.open, root, name, model.dimension)
    feed = IndexFeed(
        plan.kafka, plan.topic, plan.codec, generation, transform=Reembedder(model), observe_freshness=False
    )
    swapped = False
    try:
        await feed.start()
        job.phase = "building"
        first, _ = await feed.log_range()
        while True:
            _raise_if_failed(feed)
            _, end = await feed.log_range()
            applied = feed.next_offsets()
            job.total = sum(e - first.get(p, 0) for p, e in end.items())
            job.done = sum(min(applied.get(p, first.get(p, 0)), e) - first.get(p, 0) for p, e in end.items())
            if has_reached(applied, plan.live().next_offsets()):
                break
            await asyncio.sleep(0.3)
        job.phase = "swapping"
        await swap(feed, manifest, model)
        swapped = True
    finally:
        if not swapped:
            # The half-built folder stays (listed as incomplete) for inspection; drop removes it.
            await feed.stop()
            await asyncio.to_thread(generation.close)


async def catch_up_paused(feed: IndexFeed, live: IndexFeed) -> None:
    """With the live feed paused, let the new feed pass the live feed's position."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SWAP_CATCH_UP_S
    target = live.next_offsets()
    while not has_reached(feed.next_offsets(), target):
        _raise_if_failed(feed)
        if loop.time() > deadline:
            raise RebuildFailed(f"the new generation did not catch up within {SWAP_CATCH_UP_S:.0f} s")
        await asyncio.sleep(0.05)


def _raise_if_failed(feed: IndexFeed) -> None:
    error = feed.failure()
    if error is not None:
        raise RebuildFailed(f"the feed of {feed.generation.name} stopped: {error}") from error


async def rebuild_embedder(
    settings: EmbeddingSettings,
    current: Embedder,
    live: Manifest | None,
    read_model: str,
    model: str | None,
    model_path: str | None,
) -> tuple[Embedder, str | None]:
    """The model the new generation is built with: the query node's unless another is named.

    Stored vectors are reused when the model matches; otherwise chunk texts are re-embedded (see
    `Reembedder`), which needs the model's folder on this node, as models are never downloaded.
    """
    if model is None or (model == current.name and model_path is None):
        return current, live.embedding_model_path if live else None
    if read_model == "lexical":
        raise AdminInvalid("the lexical read model has no embedding model; rebuild vector or all")
    wanted = EmbeddingSettings(
        model=model,
        model_path=Path(model_path) if model_path else None,
        batch_size=settings.batch_size,
        device=settings.device,
    )
    try:
        embedder = await asyncio.to_thread(load_embedder, wanted)
    except ConfigurationError as exc:
        raise AdminInvalid(
            f"cannot load embedding model {model!r}: {exc} (give its folder as model_path)"
        ) from exc
    return embedder, model_path
