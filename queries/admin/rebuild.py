"""Blue/green rebuild: a new generation built from the log while queries are served from the
current one, then swapped in.

The log is the embeddings topic, or, for another chunk budget or embedding model, the topic of an
embedding generation the stream workers build (see ragstream.embedding.generation): re-chunking
and re-embedding are stream work, and this node loads only the model it embeds queries with.

The new generation has its own feed from the start of its topic. Live writes keep reaching the
current generation through the live feed and the new one through its own feed, so none is lost.
Once the new feed has caught up with the live one, the live feed pauses between batches, the new
feed passes the live feed's position, and the live feed adopts the new generation and consumer in
one synchronous step. The previous generation stays on disk until dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ragstream.codec import Codec
from ragstream.embedding import Embedder, load_embedder
from ragstream.embedding.generation import EmbeddingGeneration
from ragstream.exceptions import ConfigurationError
from ragstream.logdecode import DecoderProcess
from ragstream.queries.admin.generations import EmbeddingGenerations
from ragstream.queries.admin.jobs import AdminInvalid, Job
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.indexing.generation import Generation, Manifest, next_generation_name, write_manifest
from ragstream.queries.readmodels.projection import READ_MODELS
from ragstream.settings import ChunkingProfile, CodecSettings, KafkaSettings, Settings

# How long the live feed may stay paused while the new one passes it; the new feed is within a
# batch or two of the live one when the pause starts, so this is a safety net, not a wait.
SWAP_CATCH_UP_S = 30.0
# Records per batch while a rebuild replays the log (each batch ends in a commit of every index).
REBUILD_BATCH_RECORDS = 2000
# How often a rebuild looks for a worker's report that it cannot build the generation.
FAILURE_CHECK_S = 2.0
Swap = Callable[[IndexFeed, Manifest, Embedder], Awaitable[None]]


@dataclass
class RebuildPlan:
    root: Path
    kafka: KafkaSettings
    codec: Codec
    live: Callable[[], IndexFeed]
    # The query embedder of the new generation (its passages are embedded by the stream workers).
    embedder: Embedder
    model_path: str | None
    generation: EmbeddingGeneration
    generations: EmbeddingGenerations
    requested_by: str
    # The read models this node holds embedded (the others are on servers, fed by the workers).
    read_models: Sequence[str] = READ_MODELS
    # Where given, the catch-up decodes the log in a child process with this codec (see
    # ragstream.logdecode); None decodes on the event loop.
    decode_with: CodecSettings | None = None


class RebuildFailed(Exception):
    pass


async def rebuild(job: Job, plan: RebuildPlan, swap: Swap) -> None:
    root = plan.root
    name = next_generation_name(root)
    job.generation = name
    model, generation = plan.embedder, plan.generation
    topic = plan.generations.topic(generation)
    live = plan.generations.is_live(generation)
    manifest = Manifest.new(
        name, "rebuild", job.read_model, model.name, plan.model_path, model.dimension, source=topic,
        chunking=None if live else generation.chunking, embedding_generation=None if live else generation.id,
        model_version=model.version, chunk_tokenizer=None if live else generation.tokenizer,
        embedding_backend=None if live else generation.backend,
    )  # fmt: skip
    write_manifest(root, manifest)
    job.detail = {
        "embedding_model": model.name, "embedding_version": model.version,
        "dimension": model.dimension, "topic": topic,
    }  # fmt: skip
    requested_at = -1
    if not live:
        job.detail.update(
            chunking=generation.chunking, chunk_tokenizer=generation.tokenizer,
            embedding_backend=generation.backend, embedding_generation=generation.id,
        )  # fmt: skip
        job.phase = "requesting"
        requested_at = await plan.generations.request(generation, plan.requested_by)
    opened = await asyncio.to_thread(Generation.open, root, name, model.dimension, plan.read_models)
    decoder = DecoderProcess(plan.decode_with) if plan.decode_with is not None else None
    feed = IndexFeed(
        plan.kafka, topic, plan.codec, opened,
        observe_freshness=False, batch_records=REBUILD_BATCH_RECORDS, decoder=decoder,
    )  # fmt: skip
    swapped = False
    try:
        await feed.start()
        job.phase = "building"
        first, _ = await feed.log_range()
        checked = time.monotonic()
        while True:
            _raise_if_failed(feed)
            if not live and time.monotonic() - checked >= FAILURE_CHECK_S:
                checked = time.monotonic()
                error = await plan.generations.failure(generation.id, requested_at)
                if error is not None:
                    raise RebuildFailed(
                        f"the stream workers cannot build embedding generation {generation.id}: {error}"
                    )
            _, end = await feed.log_range()
            applied = feed.next_offsets()
            job.total = sum(e - first.get(p, 0) for p, e in end.items())
            job.done = sum(min(applied.get(p, first.get(p, 0)), e) - first.get(p, 0) for p, e in end.items())
            if feed.has_passed(plan.live()):
                break
            await asyncio.sleep(0.3)
        # The HNSW graph is built once, over everything replayed, before the swap: the new
        # generation serves indexed searches from its first query (left to the idle feed, the
        # first minutes would scan). In a child process: qdrant-edge holds the GIL while it builds,
        # which would freeze this whole query API, live searches included.
        job.phase = "indexing"
        await feed.optimize_apart()
        job.phase = "swapping"
        await swap(feed, manifest, model)
        swapped = True
    finally:
        if not swapped:
            # The half-built folder stays (listed as incomplete) for inspection; drop removes it.
            await feed.stop()
            await asyncio.to_thread(opened.close)
        if decoder is not None:
            # After a swap the live feed has taken over this feed's consumer, and decodes itself.
            decoder.close()


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


def current_generation_of(settings: Settings, live: Manifest | None) -> EmbeddingGeneration:
    """What the node's live index generation was built from."""
    workers = EmbeddingGeneration.live(settings)
    if live is None:
        return workers
    chunking = live.chunking or workers.chunking
    return EmbeddingGeneration(
        chunking["max_tokens"], chunking["overlap_tokens"], chunking["min_tokens"],
        live.embedding_model, live.embedding_model_path,
        live.chunk_tokenizer or workers.tokenizer, live.embedding_backend or workers.backend,
    )  # fmt: skip


async def plan_generation(
    settings: Settings,
    current: Embedder,
    live: Manifest | None,
    read_model: str,
    model: str | None,
    model_path: str | None,
    chunking: dict[str, int | None],
    *,
    tokenizer: str | None = None,
    backend: str | None = None,
) -> tuple[EmbeddingGeneration, Embedder]:
    """The embedding generation to rebuild from (the live one unless another chunk budget, budget
    tokenizer, model or encoder backend is asked for) and the model this node will embed queries with."""
    base = current_generation_of(settings, live)
    given = {k: v for k, v in chunking.items() if v is not None}
    wanted = replace(
        base,
        max_tokens=given.get("max_tokens", base.max_tokens),
        overlap_tokens=given.get("overlap_tokens", base.overlap_tokens),
        min_tokens=given.get("min_tokens", base.min_tokens),
        tokenizer=tokenizer or base.tokenizer,
    )
    if model is not None and (model != base.embedding_model or model_path is not None):
        if read_model == "lexical":
            raise AdminInvalid("the lexical read model has no embedding model; rebuild vector or all")
        wanted = replace(wanted, embedding_model=model, embedding_model_path=model_path)
    if backend is not None and backend != base.backend:
        if read_model == "lexical":
            raise AdminInvalid("the lexical read model has no encoder backend; rebuild vector or all")
        wanted = replace(wanted, backend=backend)
    if wanted.chunking != base.chunking or wanted.tokenizer != base.tokenizer:
        if read_model != "all":
            raise AdminInvalid("a new chunk size re-chunks both read models; rebuild with read_model all")
        try:
            ChunkingProfile(**wanted.chunking)
        except ValueError as exc:
            raise AdminInvalid(f"bad chunking {wanted.chunking}: {exc}") from exc
    same_files = wanted.embedding_model == current.name
    same_files &= wanted.embedding_model_path == base.embedding_model_path
    if same_files and wanted.backend == base.backend:
        return wanted, current
    try:
        embedder = await asyncio.to_thread(load_embedder, wanted.embedding_settings(settings.embedding))
    except ConfigurationError as exc:
        hint = "" if same_files else " (give its folder as model_path)"
        raise AdminInvalid(
            f"cannot load embedding model {wanted.embedding_model!r} with backend {wanted.backend}: {exc}{hint}"
        ) from exc
    return wanted, embedder
