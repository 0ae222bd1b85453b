"""The composition root: the three services assembled from the sides.

`commands`, `streams` and `queries` never import each other; what crosses between them is wired
here. A stream worker runs the query side's projections that keep shared state (the registry and
audit view in PostgreSQL, server read models such as OpenSearch), because those must be written
once per record, by the owner of the record's partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragstream.settings import Settings

if TYPE_CHECKING:
    import faust
    from fastapi import FastAPI


def stream_worker(settings: Settings) -> faust.App:
    from ragstream.embedding import load_embedder
    from ragstream.projections import Projection
    from ragstream.queries.projections import RegistryProjection, shared_index_projections
    from ragstream.streams.app import create_app

    embedder = load_embedder(settings.embedding)
    projections: list[Projection] = [
        RegistryProjection(settings),
        *shared_index_projections(settings, embedder.dimension),
    ]
    return create_app(settings, embedder=embedder, projections=projections)


def command_api(settings: Settings) -> FastAPI:
    from ragstream.commands.api.app import create_app

    return create_app(settings)


def query_api(settings: Settings) -> FastAPI:
    from ragstream.queries.api.app import create_app

    return create_app(settings)
