"""The composition root: the three services assembled from the sides.

`commands`, `streams` and `queries` never import each other; what crosses between them is wired
here. A stream worker runs the query side's projections that keep shared state (the registry and
audit view in PostgreSQL, server read models such as OpenSearch), because those must be written
once per record, by the owner of the record's partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ragstream.settings import Settings

if TYPE_CHECKING:
    import faust
    from fastapi import FastAPI

    from ragstream.queries.notifications.dispatcher import ConnectorStates, ConnectorStatus


def stream_worker(settings: Settings) -> faust.App:
    from ragstream.embedding import load_embedder
    from ragstream.projections import Projection
    from ragstream.queries.notifications.projection import notification_projections
    from ragstream.queries.projections import FailureProjection, RegistryProjection, shared_index_projections
    from ragstream.streams.app import create_app

    embedder = load_embedder(settings.embedding, "passages")
    projections: list[Projection] = [
        RegistryProjection(settings),
        FailureProjection(settings),
        *shared_index_projections(settings, embedder.dimension),
        # Webhooks are about read-side state, so the query side owns them; the workers run them.
        *notification_projections(settings, _connector_states(settings)),
    ]
    return create_app(settings, embedder=embedder, projections=projections)


def _connector_states(settings: Settings) -> ConnectorStates | None:
    """The CDC side's view of its connectors, for the query side's notifier (None: nothing to watch)."""
    from ragstream.streams.cdc import load_mappings
    from ragstream.streams.cdc.watch import connector_reports

    mappings = load_mappings(settings.cdc.mappings)
    url = settings.cdc.connect_url
    if not (mappings and url):
        return None

    async def states() -> Sequence[ConnectorStatus]:
        return await asyncio.to_thread(connector_reports, url, mappings)

    return states


def command_api(settings: Settings) -> FastAPI:
    from ragstream.commands.api.app import create_app

    return create_app(settings)


def query_api(settings: Settings) -> FastAPI:
    from ragstream.queries.api.app import create_app

    return create_app(settings)
