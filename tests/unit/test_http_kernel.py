"""What both APIs share, on a small app built the same way: Problem Details for every error, strict
JSON bodies, the body limit (Content-Length and chunked), token buckets, and the OpenAPI spec."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from ragstream.auth.keys import create_key
from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.ratelimit import RateLimited, RateLimiter
from ragstream.http.security import Reader, throttle
from ragstream.http.service import create_service_app
from ragstream.settings import AuthSettings, LimitSettings, RateLimit, Settings

pytestmark = pytest.mark.unit
LIMIT = 64 * 1024
PROBLEM = "application/problem+json"


class Echo(BaseModel):
    text: str
    count: int = 0
    tags: dict[str, str] = {}


@asynccontextmanager
async def nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


def make_app(auth: AuthSettings, limits: LimitSettings | None = None) -> FastAPI:
    async def ready(_: FastAPI) -> bool:
        return True

    settings = Settings(auth=auth, limits=limits or LimitSettings(enabled=False))
    app = create_service_app(
        title="test API", service="test-api", settings=settings, lifespan=nothing, ready=ready,
        body_limit=LIMIT, errors={}, rate_limits=(settings.limits.queries_per_tenant, settings.limits.queries_per_key),
    )  # fmt: skip
    router = APIRouter(route_class=StrictJSONRoute)

    @router.post("/v1/echo", dependencies=[Depends(throttle)])
    async def echo(body: Echo, reader: Reader) -> dict[str, Any]:
        return {"text": body.text, "tenant": reader.tenant}

    app.include_router(router)
    return app


@pytest.fixture
def dev() -> Iterator[TestClient]:
    with TestClient(make_app(AuthSettings(enabled=False)), raise_server_exceptions=False) as client:
        yield client


def assert_problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://ragstream.dev/problems/{kind}"
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b'{"text": "\\ud800"}', "lone surrogate"),
        (b'{"text": "x", "extra\\udfff": 1}', "lone surrogate in a key"),
        (b'{"text": "nul\\u0000"}', "NUL"),
        (b'{"text": "x", "tags": ' + b'{"a": ' * 200 + b'"x"' + b"}" * 200 + b"}", "deep nesting"),
        (b"[" * 30_000 + b"]" * 30_000, "nesting past the recursion limit"),
        (b'{"text": "x", "count": 1' + b"0" * 5000 + b"}", "a 5000-digit integer"),
        (b'{"text": "x", "count": 99999999999999999999}', "an integer beyond 64 bits"),
        (b'{"text": "x", "count": 1e999}', "a float that overflows"),
        (b'{"text": "x", "count": NaN}', "NaN"),
        (b'{"text": "caf\xe9"}', "invalid UTF-8"),
        (b'{"text": ', "truncated JSON"),
        (b'{"text": ["not", "a", "string"]}', "a wrong type"),
        (b'{"text": "x", "count": "many"}', "a wrong type"),
        (b"null", "null"),
    ],
)
def test_hostile_json_gets_a_422_problem_never_a_5xx(dev: TestClient, content: bytes, what: str) -> None:
    response = dev.post("/v1/echo", content=content, headers={"Content-Type": "application/json"})
    body = assert_problem(response, 422, "validation")
    assert isinstance(body["errors"], list), what


def test_validation_problems_list_every_error_without_echoing_input(dev: TestClient) -> None:
    body = assert_problem(dev.post("/v1/echo", json={"count": "x" * 1000}), 422, "validation")
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "text"), ("body", "count")}
    assert "x" * 100 not in json.dumps(body)


def test_valid_unicode_passes(dev: TestClient) -> None:
    response = dev.post("/v1/echo", json={"text": "ünïcode ✓ 😀"}, headers={"X-Tenant": "t1"})
    assert response.json() == {"text": "ünïcode ✓ 😀", "tenant": "t1"}


def test_a_body_over_the_limit_is_cut_off_by_its_header_or_as_it_arrives(dev: TestClient) -> None:
    big = json.dumps({"text": "x" * (LIMIT + 10)}).encode()
    assert_problem(
        dev.post("/v1/echo", content=big, headers={"Content-Type": "application/json"}), 413, "body-too-large"
    )


async def test_a_chunked_body_is_read_only_up_to_the_limit() -> None:
    """At the ASGI level (the test client would buffer the whole body first): the app stops pulling
    chunks soon after the limit and answers 413."""
    app = make_app(AuthSettings(enabled=False))
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 4096, "more_body": pulled < 10_000}

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/echo", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json")], "scheme": "http", "http_version": "1.1",
             "server": ("test", 80), "client": ("test", 1), "app": app}  # fmt: skip
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert pulled * 4096 <= LIMIT + 2 * 4096


def test_unknown_paths_and_methods_are_problems_too(dev: TestClient) -> None:
    assert_problem(dev.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(dev.get("/v1/echo"), 405, "method-not-allowed")


def test_auth_failures_are_answered_before_the_body_is_read(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    writer = create_key(keys, name="w", tenant="acme", principals=[], scopes=["write"])
    client = TestClient(make_app(AuthSettings(api_keys_file=keys)))
    read = 0

    def chunks() -> Iterator[bytes]:
        nonlocal read
        for _ in range(100):
            read += 1
            yield b"x" * 4096

    response = client.post("/v1/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert read <= 1
    assert_problem(
        client.post("/v1/echo", json={"text": "x"}, headers={"X-API-Key": writer}), 403, "forbidden"
    )
    whoami = client.get("/v1/whoami", headers={"X-API-Key": writer}).json()
    assert whoami == {"subject": "key:w", "tenant": "acme", "principals": [], "scopes": ["write"]}


def test_ops_routes_say_ready_and_nothing_more(dev: TestClient) -> None:
    assert dev.get("/health").json() == {"status": "ok"}
    assert dev.get("/ready").json() == {"status": "ready"}


def test_rate_limits_answer_429_with_retry_after(tmp_path: Path) -> None:
    limits = LimitSettings(
        queries_per_tenant=RateLimit(per_s=100, burst=100), queries_per_key=RateLimit(per_s=0.5, burst=2)
    )
    client = TestClient(make_app(AuthSettings(enabled=False), limits))
    assert [client.post("/v1/echo", json={"text": "x"}).status_code for _ in range(2)] == [200, 200]
    body = assert_problem(client.post("/v1/echo", json={"text": "x"}), 429, "rate-limited")
    response = client.post("/v1/echo", json={"text": "x"})
    assert int(response.headers["retry-after"]) == body["retry_after_s"] == 2
    # Another credential has its own bucket.
    assert client.post("/v1/echo", json={"text": "x"}, headers={"X-Actor": "bob"}).status_code == 200


def test_token_buckets_refill_and_keep_tenants_apart() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimit(per_s=10, burst=3), RateLimit(per_s=0), clock=lambda: now[0])
    for _ in range(3):
        limiter.take("acme", "key:a")
    with pytest.raises(RateLimited) as caught:
        limiter.take("acme", "key:b")
    assert caught.value.retry_after_s == 1
    limiter.take("globex", "key:c")  # another tenant, another bucket
    now[0] += 0.1
    limiter.take("acme", "key:a")  # one token back after 0.1 s at 10/s
    with pytest.raises(RateLimited):
        limiter.take("acme", "key:a")
    # A request bigger than the burst takes a whole full bucket rather than never fitting.
    now[0] += 10
    limiter.take("acme", "key:a", cost=50)
    with pytest.raises(RateLimited):
        limiter.take("acme", "key:a")


def test_openapi_declares_credentials_and_problem_responses(dev: TestClient) -> None:
    spec = dev.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    whoami = spec["paths"]["/v1/whoami"]["get"]
    assert {"ApiKey": []} in whoami["security"] and {"Bearer": []} in whoami["security"]
    for status in ("401", "403", "422", "429"):
        content = whoami["responses"][status]["content"]
        assert content == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "security" not in spec["paths"]["/health"]["get"]
