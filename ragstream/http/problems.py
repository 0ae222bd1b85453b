"""RFC 9457 Problem Details: the one error format of both HTTP APIs.

Every error body is `{"type", "title", "status", "detail"}` (plus `errors`, `behind` or
`retry_after_s` where they help) served as `application/problem+json`, and `type` names the kind of
error by a stable URI, so clients branch on it rather than on wording.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragstream.auth import AuthUnavailable, Forbidden, Unauthenticated
from ragstream.http.ratelimit import QuotaExceeded, RateLimited

log = logging.getLogger("ragstream.http")
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://ragstream.dev/problems/"

# kind -> (status, title); the kinds are a contract with clients: add, never rename.
KINDS: dict[str, tuple[int, str]] = {
    "bad-request": (400, "Bad request"),
    "unauthenticated": (401, "Authentication required"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "body-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation": (422, "Invalid request"),
    "rate-limited": (429, "Too many requests"),
    "quota-exceeded": (429, "Quota exceeded"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "Service unavailable"),
    "not-caught-up": (504, "Read models not caught up"),
}
_BY_STATUS = {status: kind for kind, (status, _) in KINDS.items() if kind != "quota-exceeded"}
# The statuses a route may answer with, for the OpenAPI spec.
DESCRIPTIONS = {status: KINDS[kind][1] for status, kind in _BY_STATUS.items()}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error, as RFC 9457 Problem Details."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description=f"{TYPE_BASE}<kind>, stable per kind of error")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(default=None, description="validation: what is wrong where")
    behind: dict[str, dict[str, int]] | None = Field(
        default=None, description="not-caught-up: per partition, the offset applied and the one needed"
    )
    retry_after_s: int | None = Field(default=None, description="rate-limited, quota-exceeded")


class ProblemResponse(Response):
    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        # ensure_ascii: a lone surrogate echoed in a message must not break rendering (a 500).
        return json.dumps(content, ensure_ascii=True, separators=(",", ":"), default=str).encode()


def kind_of(status: int) -> str:
    return _BY_STATUS.get(status, "bad-request" if status < 500 else "internal")


def problem(
    kind: str,
    detail: str,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    default_status, title = KINDS[kind]
    body = {"type": TYPE_BASE + kind, "title": title, "status": status or default_status, "detail": detail}
    body.update({k: v for k, v in extensions.items() if v is not None})
    return ProblemResponse(body, status_code=status or default_status, headers=dict(headers or {}))


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """loc, msg and type of each error; never the input, which may be huge or hostile."""
    return [
        {"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", ""))}
        for e in errors
    ]  # fmt: skip


def _validation(errors: list[dict[str, Any]]) -> ProblemResponse:
    if not errors:
        return problem("validation", "the request is invalid")
    where = ".".join(str(p) for p in errors[0]["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem("validation", f"{where}: {errors[0]['msg']}{more}", errors=errors)


# What an application-specific exception becomes: its kind and any extension members.
ErrorMapping = Mapping[type[Exception], Callable[[Exception], ProblemResponse]]


def install_problem_handlers(app: FastAPI, mapping: ErrorMapping) -> None:
    """Every error the app can raise answers as a problem; anything unforeseen is `internal`."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> ProblemResponse:
        detail = exc.detail if isinstance(exc.detail, str) else KINDS[kind_of(exc.status_code)][1]
        return problem(kind_of(exc.status_code), detail, status=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> ProblemResponse:
        return _validation(field_errors(exc.errors()))

    @app.exception_handler(ValidationError)
    async def _model_invalid(_: Request, exc: ValidationError) -> ProblemResponse:
        return _validation(
            field_errors(exc.errors(include_url=False, include_context=False, include_input=False))
        )

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_: Request, exc: Unauthenticated) -> ProblemResponse:
        return unauthenticated(str(exc))

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> ProblemResponse:
        return problem("forbidden", str(exc))

    @app.exception_handler(AuthUnavailable)
    async def _auth_down(_: Request, exc: AuthUnavailable) -> ProblemResponse:
        return problem("unavailable", str(exc))

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> ProblemResponse:
        return limited("rate-limited", exc)

    @app.exception_handler(QuotaExceeded)
    async def _quota(_: Request, exc: QuotaExceeded) -> ProblemResponse:
        return limited("quota-exceeded", exc)

    for exc_type, render in mapping.items():
        app.add_exception_handler(exc_type, _handler(render))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> ProblemResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem("internal", "an unexpected error occurred; it has been logged")


def _handler(render: Callable[[Exception], ProblemResponse]) -> Callable[[Request, Exception], Any]:
    async def handle(_: Request, exc: Exception) -> ProblemResponse:
        return render(exc)

    return handle


def unauthenticated(detail: str) -> ProblemResponse:
    return problem(
        "unauthenticated", detail, headers={"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'}
    )


def limited(kind: str, exc: RateLimited | QuotaExceeded) -> ProblemResponse:
    return problem(
        kind, str(exc), headers={"Retry-After": str(exc.retry_after_s)}, retry_after_s=exc.retry_after_s
    )
