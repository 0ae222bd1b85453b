"""Opening the live generation at start-up, with the embedding model it was built with."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ragstream.embedding import Embedder, load_embedder
from ragstream.exceptions import ConfigurationError
from ragstream.queries.indexing.generation import (
    Generation,
    Manifest,
    current_generation,
    read_manifest,
    set_current_generation,
    write_manifest,
)
from ragstream.queries.readmodels.shared import local_read_models
from ragstream.settings import EmbeddingSettings, Settings
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
        topic = catalogue(settings.kafka.topic_prefix).embeddings.name
        manifest = Manifest.new(
            name,
            "initial",
            "all",
            model.name,
            None,
            model.dimension,
            source=topic,
            model_version=model.version,
        )
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
    return settings.embedding.model_copy(
        update={
            "model": manifest.embedding_model,
            "model_path": Path(manifest.embedding_model_path) if manifest.embedding_model_path else None,
        }
    )


def generation_topic(settings: Settings, manifest: Manifest) -> str:
    """The topic a generation is fed from."""
    if manifest.source == "embeddings":
        return catalogue(settings.kafka.topic_prefix).embeddings.name
    if manifest.source == "events":
        raise ConfigurationError(
            f"generation {manifest.name} was chunked in the query node, which no longer happens;"
            " rebuild it (the stream workers now build other chunkers' embeddings)"
        )
    return manifest.source
