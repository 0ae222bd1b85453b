"""The query API: hybrid search and grounded answers from the read models only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragstream.codec import load_codec
from ragstream.embedding import Embedder
from ragstream.http import install_auth
from ragstream.observability.http import instrument_app
from ragstream.observability.metrics import record_error
from ragstream.queries.admin.live import generation_topic, open_live_generation
from ragstream.queries.admin.logged import CallerMiddleware, LoggedQueryService
from ragstream.queries.admin.manager import IndexManager
from ragstream.queries.admin.querylog import QueryLog
from ragstream.queries.admin.routes import router as admin_router
from ragstream.queries.answers.base import Generator
from ragstream.queries.answers.exceptions import GeneratorUnavailable
from ragstream.queries.answers.extractive import ExtractiveGenerator
from ragstream.queries.answers.openai_compatible import OpenAICompatibleGenerator
from ragstream.queries.api.routes import router
from ragstream.queries.exceptions import InvalidConsistencyToken, NotCaughtUp
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.readmodels.shared import local_read_models, open_shared_indexes, shared_read_models
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.queries.retrieval.exceptions import RetrievalError
from ragstream.queries.service import QueryService, SharedReadModels
from ragstream.settings import GeneratorSettings, Settings, get_settings


def make_generator(settings: GeneratorSettings) -> Generator:
    if settings.kind == "openai":
        return OpenAICompatibleGenerator(
            settings.base_url, settings.model, settings.api_key, timeout_s=settings.timeout_s
        )
    return ExtractiveGenerator()


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

        codec = load_codec(settings.codec.schemas_dir)
        topic = generation_topic(settings, manifest)
        feed = IndexFeed(settings.kafka, topic, codec, generation, on_applied=record_versions)
        await feed.start()
        query_log = await QueryLog.open(settings.postgres, settings.retrieval.query_log_retention_days)
        shared = None
        if shared_read_models(settings):
            indexes = await asyncio.to_thread(open_shared_indexes, settings, model.dimension)
            shared = SharedReadModels(indexes, SharedIndexState.of(registry))
        service = LoggedQueryService(
            feed, model, make_generator(settings.generator), settings.retrieval, shared=shared,
            query_cache_size=settings.embedding.query_cache_size,
        )  # fmt: skip
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
            if shared is not None:
                shared.indexes.close()
            await registry.close()

    app = FastAPI(title="ragstream query API", version="1", lifespan=lifespan)
    install_auth(app, settings, "query API")
    app.add_middleware(CallerMiddleware, auth=settings.auth)
    app.include_router(router)
    app.include_router(admin_router)
    instrument_app(app, "query-api", metrics_route=False)  # it serves its own /metrics

    @app.exception_handler(NotCaughtUp)
    async def _behind(_: Request, exc: NotCaughtUp) -> JSONResponse:
        behind = {str(p): {"applied": a, "needed": n} for p, (a, n) in exc.behind.items()}
        return JSONResponse({"detail": str(exc), "behind": behind}, status.HTTP_504_GATEWAY_TIMEOUT)

    @app.exception_handler(InvalidConsistencyToken)
    async def _bad_token(_: Request, exc: InvalidConsistencyToken) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(RetrievalError)
    async def _bad_retrieval(_: Request, exc: RetrievalError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(GeneratorUnavailable)
    async def _generator_down(_: Request, exc: GeneratorUnavailable) -> JSONResponse:
        record_error("query-api", exc)
        return JSONResponse({"detail": str(exc)}, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"])
    async def ready(request: Request) -> JSONResponse:
        service: QueryService | None = getattr(request.app.state, "service", None)
        registry: RegistryStore | None = getattr(request.app.state, "registry", None)
        if service is None or registry is None or not await registry.ping():
            return JSONResponse({"status": "not ready"}, 503)
        failure = service.feed.failure()
        if failure is not None:
            # A stopped feed leaves the read models behind for good: say so rather than look slow.
            return JSONResponse({"status": "not ready", "problem": f"index feed stopped: {failure!r}"}, 503)
        keyword, _ = service.read_models()
        documents = (
            await service.shared.state.count_documents()
            if service.shared is not None and "lexical" in service.shared.indexes.read_models
            else service.feed.generation.projector.state.count_documents()
        )
        return JSONResponse(
            {
                "status": "ready",
                "generation": service.feed.generation.name,
                "documents": documents,
                "chunks": await asyncio.to_thread(keyword.count),
                "unindexed_vectors": service.feed.unindexed_points,
            }
        )

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
