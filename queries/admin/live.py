"""Opening the live generation at start-up, with the embedding model it was built with."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ragstream.exceptions import ConfigurationError
from ragstream.queries.indexing.feed import Transform
from ragstream.queries.indexing.generation import (
    Generation,
    Manifest,
    current_generation,
    read_manifest,
    set_current_generation,
    write_manifest,
)
from ragstream.queries.indexing.rechunk import Rechunker
from ragstream.queries.indexing.reembed import Reembedder
from ragstream.settings import EmbeddingSettings, Settings
from ragstream.streams.chunking import ChunkingConfig
from ragstream.streams.embedding import Embedder, load_embedder
from ragstream.streams.readmodels.shared import local_read_models
from ragstream.streams.registry import RegistryStore
from ragstream.streams.stages import EmbeddingStage
from ragstream.topics import catalogue

INITIAL_GENERATION = "g1"
log = logging.getLogger("ragstream.queries.admin")


async def open_live_generation(
    settings: Settings, configured: Embedder | None = None
) -> tuple[Generation, Embedder, Manifest]:
    """The CURRENT generation (created on first start) and the model to embed queries with.

    A generation swapped in by a rebuild with another model holds vectors of that model, so after a
    restart queries must be embedded with it, whatever the node's configured model is. The indexes
    are opened before the model is loaded, so a second writer fails fast (IndexLockedError).
    """
    root = settings.index.data_dir
    local = local_read_models(settings)
    name = current_generation(root)
    if name is None:
        name = INITIAL_GENERATION
        set_current_generation(root, name)
    manifest = read_manifest(root, name)
    if manifest is None:
        model: Embedder = (
            configured
            if configured is not None
            else await asyncio.to_thread(load_embedder, settings.embedding)
        )
        manifest = Manifest.new(name, "initial", "all", model.name, None, model.dimension)
        manifest.complete = True
        write_manifest(root, manifest)
        return await asyncio.to_thread(Generation.open, root, name, model.dimension, local), model, manifest
    generation = await asyncio.to_thread(Generation.open, root, name, manifest.dimension, local)
    try:
        if configured is not None and configured.name == manifest.embedding_model:
            model = configured
        else:
            log.info(
                "generation %s was built with %s; embedding queries with it", name, manifest.embedding_model
            )
            model = await asyncio.to_thread(load_embedder, model_settings(settings, manifest))
        if model.dimension != manifest.dimension:
            raise ConfigurationError(
                f"{model.name} makes {model.dimension}-dimensional vectors; generation {name} holds {manifest.dimension}"
            )
    except BaseException:
        generation.close()
        raise
    return generation, model, manifest


def model_settings(settings: Settings, manifest: Manifest) -> EmbeddingSettings:
    if manifest.embedding_model == settings.embedding.model and manifest.embedding_model_path is None:
        return settings.embedding
    return EmbeddingSettings(
        model=manifest.embedding_model,
        model_path=Path(manifest.embedding_model_path) if manifest.embedding_model_path else None,
        batch_size=settings.embedding.batch_size,
        device=settings.embedding.device,
    )


def feed_source(
    settings: Settings, registry: RegistryStore | None, chunking: dict[str, int] | None, embedder: Embedder
) -> tuple[str, Transform]:
    """Topic and transform of a generation: the workers' embeddings, re-embedded if the model
    differs, or the events topic chunked and embedded here when it has a chunk size of its own."""
    topics = catalogue(settings.kafka.topic_prefix)
    if chunking is not None:
        return topics.events.name, Rechunker(ChunkingConfig(**chunking), EmbeddingStage(embedder, registry))
    return topics.embeddings.name, Reembedder(embedder)


def query_log_retention_days(settings: Settings) -> int:
    # RAGSTREAM_RETRIEVAL__QUERY_LOG_RETENTION_DAYS, once RetrievalSettings declares it.
    return int(getattr(settings.retrieval, "query_log_retention_days", 30))
