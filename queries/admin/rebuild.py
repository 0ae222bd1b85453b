"""Blue/green rebuild: a new generation built from the log while queries are served from the
current one, then swapped in.

The log is the embeddings topic (stored chunks and vectors reused; re-embedded when another model is
asked for), or the events topic when another chunk size is asked for (see `Rechunker`).

The new generation has its own feed from the start of the log. Live writes keep reaching the
current generation through the live feed and the new one through its own feed, so none is lost.
Once the new feed has caught up with the live one, the live feed pauses between batches, the new
feed passes the live feed's position, and the live feed adopts the new generation and consumer in
one synchronous step. The previous generation stays on disk until dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragstream.codec import AvroSingleObjectCodec
from ragstream.exceptions import ConfigurationError
from ragstream.queries.admin.jobs import AdminInvalid, Job
from ragstream.queries.indexing.feed import IndexFeed, Transform
from ragstream.queries.indexing.generation import Generation, Manifest, next_generation_name, write_manifest
from ragstream.settings import ChunkingSettings, EmbeddingSettings, KafkaSettings
from ragstream.streams.chunking import ChunkingConfig
from ragstream.streams.embedding import Embedder, load_embedder
from ragstream.streams.readmodels.projection import READ_MODELS

# How long the live feed may stay paused while the new one passes it; the new feed is within a
# batch or two of the live one when the pause starts, so this is a safety net, not a wait.
SWAP_CATCH_UP_S = 30.0
Swap = Callable[[IndexFeed, Manifest, Embedder], Awaitable[None]]


@dataclass
class RebuildPlan:
    root: Path
    kafka: KafkaSettings
    codec: AvroSingleObjectCodec
    live: Callable[[], IndexFeed]
    embedder: Embedder
    model_path: str | None
    chunking: dict[str, int] | None
    # The topic and transform a generation built with (chunking, embedder) is fed with.
    source: Callable[[dict[str, int] | None, Embedder], tuple[str, Transform]]
    # The read models this node holds embedded (the others are on servers, fed by the workers).
    read_models: Sequence[str] = READ_MODELS


class RebuildFailed(Exception):
    pass


async def rebuild(job: Job, plan: RebuildPlan, swap: Swap) -> None:
    root = plan.root
    name = next_generation_name(root)
    job.generation = name
    model = plan.embedder
    manifest = Manifest.new(
        name, "rebuild", job.read_model, model.name, plan.model_path, model.dimension, chunking=plan.chunking
    )
    write_manifest(root, manifest)
    topic, transform = plan.source(plan.chunking, model)
    job.detail = {"embedding_model": model.name, "dimension": model.dimension, "topic": topic}
    if plan.chunking is not None:
        job.detail["chunking"] = plan.chunking
    generation = await asyncio.to_thread(Generation.open, root, name, model.dimension, plan.read_models)
    feed = IndexFeed(plan.kafka, topic, plan.codec, generation, transform=transform, observe_freshness=False)
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
            if feed.has_passed(plan.live()):
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
    while not feed.has_passed(live):
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


def rebuild_chunking(
    configured: ChunkingSettings, read_model: str, wanted: dict[str, int | None]
) -> dict[str, int] | None:
    """The chunker of the new generation: None for the stream workers' (the embeddings topic),
    otherwise the budget to re-chunk the events topic with."""
    given = {k: v for k, v in wanted.items() if v is not None}
    current = {k: getattr(configured, k) for k in ("max_tokens", "overlap_tokens", "min_tokens")}
    merged = {**current, **given}
    if not given or merged == current:
        return None
    try:
        ChunkingConfig(**merged)
    except ValueError as exc:
        raise AdminInvalid(f"bad chunking {merged}: {exc}") from exc
    if read_model != "all":
        raise AdminInvalid("a new chunk size re-chunks both read models; rebuild with read_model all")
    return merged
