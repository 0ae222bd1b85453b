"""The query API: hybrid search and grounded answers from the read models only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ragstream.codec import load_codec
from ragstream.embedding import Embedder
from ragstream.http.problems import ErrorMapping, ProblemResponse, problem
from ragstream.http.service import create_service_app
from ragstream.observability.metrics import record_error
from ragstream.queries.admin.live import generation_topic, open_live_generation
from ragstream.queries.admin.logged import LoggedQueryService
from ragstream.queries.admin.manager import IndexManager
from ragstream.queries.admin.querylog import QueryLog
from ragstream.queries.admin.routes import router as admin_router
from ragstream.queries.answers.base import Generator
from ragstream.queries.answers.exceptions import GeneratorUnavailable
from ragstream.queries.answers.extractive import ExtractiveGenerator
from ragstream.queries.answers.openai_compatible import OpenAICompatibleGenerator
from ragstream.queries.api.routes import router
from ragstream.queries.consistency import CommandLogBounds
from ragstream.queries.exceptions import InvalidConsistencyToken, NotCaughtUp, TokenCheckUnavailable
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.readmodels.shared import local_read_models, open_shared_indexes, shared_read_models
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.queries.retrieval.exceptions import RetrievalError
from ragstream.queries.service import QueryService, SharedReadModels
from ragstream.settings import GeneratorSettings, Settings, get_settings
from ragstream.topics import catalogue

log = logging.getLogger("ragstream.queries.api")


def make_generator(settings: GeneratorSettings) -> Generator:
    if settings.kind == "openai":
        return OpenAICompatibleGenerator(
            settings.base_url, settings.model, settings.api_key, timeout_s=settings.timeout_s
        )
    return ExtractiveGenerator()


async def _ready(app: FastAPI) -> bool:
    service: QueryService | None = getattr(app.state, "service", None)
    registry: RegistryStore | None = getattr(app.state, "registry", None)
    if service is None or registry is None or not await registry.ping():
        return False
    failure = service.feed.failure()
    if failure is not None:
        # A stopped feed leaves the read models behind for good: not ready, rather than merely slow.
        log.error("not ready: the index feed stopped: %r", failure)
        return False
    return True


def _not_caught_up(exc: Exception) -> ProblemResponse:
    assert isinstance(exc, NotCaughtUp)
    behind = {str(p): {"applied": a, "needed": n} for p, (a, n) in exc.behind.items()}
    return problem("not-caught-up", str(exc), behind=behind)


def _generator_down(exc: Exception) -> ProblemResponse:
    # The upstream's URL and answer are for the operator's log, not for the caller.
    record_error("query-api", exc)
    log.error("answer generator unavailable: %s", exc)
    return problem(
        "unavailable", "the answer generator is unavailable; retry later", headers={"Retry-After": "5"}
    )


# How the query side's errors answer (the rest is the kernel's: ragstream.http.problems).
ERRORS: ErrorMapping = {
    NotCaughtUp: _not_caught_up,
    InvalidConsistencyToken: lambda exc: problem("bad-request", str(exc)),
    TokenCheckUnavailable: lambda exc: problem("unavailable", str(exc), headers={"Retry-After": "1"}),
    RetrievalError: lambda exc: problem("validation", str(exc)),
    GeneratorUnavailable: _generator_down,
}


def create_app(settings: Settings | None = None, *, embedder: Embedder | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = await RegistryStore.connect(settings.postgres)
        # Loads the model the current generation was built with (the configured one on first start).
        generation, model, manifest = await open_live_generation(settings, embedder)

        async def record_versions(applied: list[tuple[str, str, int, bool]]) -> None:
            for read_model in local_read_models(settings):
                await registry.record_read_model_versions(read_model, applied)

        codec = load_codec(settings.codec)
        topic = generation_topic(settings, manifest)
        feed = IndexFeed(settings.kafka, topic, codec, generation, on_applied=record_versions)
        await feed.start()
        commands = catalogue(settings.kafka.topic_prefix).commands.name
        bounds = CommandLogBounds(settings.kafka, commands, settings.retrieval.consistency_bounds_ttl_s)
        await bounds.start()
        query_log = await QueryLog.open(settings.postgres, settings.retrieval.query_log_retention_days)
        shared = None
        if shared_read_models(settings):
            indexes = await asyncio.to_thread(open_shared_indexes, settings, model.dimension)
            shared = SharedReadModels.of(indexes, SharedIndexState.of(registry))
        service = LoggedQueryService(
            feed, model, make_generator(settings.generator), settings.retrieval, shared=shared, bounds=bounds
        )
        service.query_log = query_log
        admin = IndexManager(settings, service, registry, codec)
        app.state.registry = registry
        app.state.service = service
        app.state.admin = admin
        app.state.query_log = query_log
        try:
            yield
        finally:
            await admin.close()
            await feed.stop()
            # After a blue/green swap the feed holds the new generation; the old one is the admin's.
            feed.generation.close()
            await query_log.close()
            await bounds.stop()
            if shared is not None:
                await shared.positions.close()
                shared.indexes.close()
            await registry.close()

    limits = settings.limits
    app = create_service_app(
        title="ragstream query API",
        service="query-api",
        settings=settings,
        lifespan=lifespan,
        ready=_ready,
        body_limit=settings.api.max_query_body_bytes,
        rate_limits=(limits.queries_per_tenant, limits.queries_per_key),
        errors=ERRORS,
    )
    app.include_router(router)
    app.include_router(admin_router)
    return app
