"""What both FastAPI services share: errors as problems, authentication, body limit, rate limits,
/health, /ready, /metrics, /v1/whoami and an OpenAPI spec that declares credentials and errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from ragstream.auth import Authenticator
from ragstream.http.middleware import AuthenticationMiddleware, BodyLimitMiddleware
from ragstream.http.problems import DESCRIPTIONS, MEDIA_TYPE, ErrorMapping, Problem, install_problem_handlers
from ragstream.http.ratelimit import RateLimiter
from ragstream.http.security import whoami_router
from ragstream.observability.http import instrument_app
from ragstream.settings import RateLimit, Settings

log = logging.getLogger("ragstream.http")
ReadyCheck = Callable[[FastAPI], Awaitable[bool]]
# Every route that takes credentials can answer these.
COMMON_ERRORS = (401, 403, 422, 429)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a router or route: the spec lists each status as a Problem (see _openapi)."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def create_service_app(
    *,
    title: str,
    service: str,
    settings: Settings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    ready: ReadyCheck,
    body_limit: int,
    errors: ErrorMapping,
    rate_limits: tuple[RateLimit, RateLimit] | None = None,
    rate_unit: str = "requests",
) -> FastAPI:
    """`rate_limits`: (per tenant, per credential) buckets the routes draw from, `rate_unit` a token."""
    app = FastAPI(title=title, version="1", lifespan=lifespan)
    app.state.settings = settings
    if settings.limits.enabled and rate_limits is not None:
        app.state.rate_limiter = RateLimiter(*rate_limits, what=rate_unit)
    if not settings.auth.enabled:
        log.warning(
            "AUTHENTICATION IS OFF for the %s (dev profile): tenant and principals come from headers", title
        )
    install_problem_handlers(app, errors)
    _ops_routes(app, ready)
    app.include_router(whoami_router, responses=error_responses(*COMMON_ERRORS))
    # Added innermost first: observability (outermost, so it sees every status, 413s included),
    # then the body limit (before authentication spends any work), then authentication.
    app.add_middleware(AuthenticationMiddleware, authenticator=Authenticator(settings.auth))
    app.add_middleware(BodyLimitMiddleware, limit=body_limit)
    instrument_app(app, service)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _ops_routes(app: FastAPI, ready: ReadyCheck) -> None:
    @app.get("/health", tags=["ops"], summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], summary="The service's dependencies answer")
    async def is_ready() -> JSONResponse:
        # Unauthenticated: it says ready or not, never why (the reason is logged).
        try:
            ok = await ready(app)
        except Exception:
            log.warning("readiness check failed", exc_info=True)
            ok = False
        return JSONResponse({"status": "ready" if ok else "not ready"}, 200 if ok else 503)


def _openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {MEDIA_TYPE: {"schema": ref}}
                    response["description"] = DESCRIPTIONS.get(int(status), response.get("description", ""))
    # FastAPI's own 422 body is replaced everywhere by the Problem above.
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema
