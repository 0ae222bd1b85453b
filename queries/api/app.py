"""The query API: hybrid search and grounded answers from the read models only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from ragstream.codec import load_codec
from ragstream.embedding import Embedder
from ragstream.http.problems import ErrorMapping, ProblemResponse, problem
from ragstream.http.service import create_service_app
from ragstream.observability.metrics import record_error
from ragstream.postgres import apply_schema
from ragstream.queries.admin.jobs import Job
from ragstream.queries.admin.live import generation_topic, open_live_generation
from ragstream.queries.admin.logged import LoggedQueryService
from ragstream.queries.admin.manager import IndexManager
from ragstream.queries.admin.querylog import QueryLog
from ragstream.queries.admin.routes import router as admin_router
from ragstream.queries.answers.exceptions import GeneratorUnavailable
from ragstream.queries.answers.resilient import make_generator
from ragstream.queries.answers.template_store import TemplateNotFound, TemplateStore
from ragstream.queries.answers.templates import InvalidTemplate
from ragstream.queries.api.events import StreamSlots
from ragstream.queries.api.routes import router
from ragstream.queries.api.templates import router as templates_router
from ragstream.queries.consistency import CommandLogBounds
from ragstream.queries.console.routes import api as console_api
from ragstream.queries.console.routes import pages as console_pages
from ragstream.queries.exceptions import InvalidConsistencyToken, NotCaughtUp, TokenCheckUnavailable
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.notifications import SCHEMA as NOTIFICATIONS_SCHEMA
from ragstream.queries.notifications import notices
from ragstream.queries.notifications.outbox import Outbox
from ragstream.queries.notifications.routes import Webhooks
from ragstream.queries.notifications.routes import router as webhooks_router
from ragstream.queries.notifications.subscriptions import SubscriptionStore, TooManySubscriptions
from ragstream.queries.notifications.vault import SecretVault
from ragstream.queries.readmodels.shared import local_read_models, open_shared_indexes, shared_read_models
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.queries.retrieval.exceptions import RetrievalError
from ragstream.queries.service import QueryService, SharedReadModels
from ragstream.settings import Settings, get_settings
from ragstream.topics import catalogue, key_name

log = logging.getLogger("ragstream.queries.api")
# Searches, answers, templates, webhooks and the event streams' audit lookups share it.
REGISTRY_POOL_SIZE = 10


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
    behind = {key_name(p): {"applied": a, "needed": n} for p, (a, n) in exc.behind.items()}
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
    InvalidTemplate: lambda exc: problem("validation", str(exc)),
    TemplateNotFound: lambda exc: problem("not-found", str(exc.args[0])),
    TooManySubscriptions: lambda exc: problem("conflict", str(exc)),
}


def _tell_owner(outbox: Outbox) -> Callable[[Job], Awaitable[None]]:
    """A finished replay or rebuild becomes a notice for the tenant that started it."""

    async def tell(job: Job) -> None:
        if not job.owner:
            return
        details = {
            "kind": job.kind, "read_model": job.read_model, "state": job.state, "tenant": job.tenant,
            "generation": job.generation, "applied": job.applied, "skipped": job.skipped, "error": job.error,
        }  # fmt: skip
        finished = datetime.fromtimestamp(job.finished_at or 0, UTC)
        await outbox.enqueue([
            notices.for_job(job_id=job.id, kind=job.kind, failed=job.state == "failed", tenant=job.owner,
                            details=details, finished_at=finished)
        ])  # fmt: skip

    return tell


async def _notifications(app: FastAPI, settings: Settings, registry: RegistryStore) -> Outbox:
    """The query API's side of webhooks (subscriptions, delivery log) and templates."""
    schema = settings.postgres.schema_name
    await apply_schema(registry.pool, schema, NOTIFICATIONS_SCHEMA)
    notifications = settings.notifications
    vault = SecretVault(notifications.secrets_key.get_secret_value())
    if not vault.encrypts and settings.auth.enabled:
        log.warning("notifications.secrets_key is not set: webhook signing secrets are stored unencrypted")
    outbox = Outbox(registry.pool, schema)
    subscriptions = SubscriptionStore(
        registry.pool, schema, vault, notifications.max_subscriptions_per_tenant
    )
    app.state.webhooks = Webhooks(subscriptions, outbox, notifications)
    app.state.templates = await TemplateStore.on(registry.pool, schema)
    return outbox


def create_app(settings: Settings | None = None, *, embedder: Embedder | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = await RegistryStore.connect(settings.postgres, max_size=REGISTRY_POOL_SIZE)
        outbox = await _notifications(app, settings, registry)
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
            feed, model, make_generator(settings.generator), settings.retrieval, shared=shared, bounds=bounds,
            query_cache_size=settings.embedding.query_cache_size,
        )  # fmt: skip
        service.query_log = query_log
        admin = IndexManager(settings, service, registry, codec, on_job_finished=_tell_owner(outbox))
        app.state.registry = registry
        app.state.service = service
        app.state.admin = admin
        app.state.query_log = query_log
        app.state.codec = codec
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
    app.state.event_slots = StreamSlots(settings.notifications.events_streams_per_tenant)
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(console_api)
    app.include_router(console_pages)
    app.include_router(templates_router)
    app.include_router(webhooks_router)
    return app
