"""The HTTP middleware: latency and status by route template, trace context in and out, errors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from ragstream.observability.http import instrument_app
from ragstream.observability.scrape import value
from ragstream.observability.tracing import current, parse_traceparent

pytestmark = pytest.mark.unit
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def service() -> str:
    # A fresh label value per test: the registry is global and counters only go up.
    return f"svc-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(service: str) -> TestClient:
    app = FastAPI()

    @app.get("/v1/documents/{document_id:path}")
    async def get_document(document_id: str) -> dict[str, str | None]:
        trace = current().trace
        return {"document_id": document_id, "trace_id": trace.trace_id if trace else None}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for part in (b"a", b"b"):
                yield part

        return StreamingResponse(parts())

    instrument_app(app, service)
    return TestClient(app, raise_server_exceptions=False)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_are_counted_by_route_template_not_path(client: TestClient, service: str) -> None:
    for doc in ("a", "b/c", "d"):
        assert client.get(f"/v1/documents/{doc}").status_code == 200
    route = "/v1/documents/{document_id:path}"
    assert (
        sample("ragstream_http_requests_total", service=service, method="GET", route=route, status="200") == 3
    )
    assert sample("ragstream_http_request_seconds_count", service=service, method="GET", route=route) == 3
    client.get("/nowhere")
    assert (
        sample(
            "ragstream_http_requests_total", service=service, method="GET", route="<unmatched>", status="404"
        )
        == 1
    )


def test_the_callers_trace_is_continued_and_returned(client: TestClient) -> None:
    response = client.get("/v1/documents/x", headers={"traceparent": PARENT})
    assert response.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    returned = parse_traceparent(response.headers["traceparent"])
    assert returned is not None and returned.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert returned.span_id != "00f067aa0ba902b7"
    # Without one, each request starts its own trace.
    first, second = (client.get("/v1/documents/x").json()["trace_id"] for _ in range(2))
    assert first and second and first != second


def test_unhandled_errors_count_as_500_and_as_errors(client: TestClient, service: str) -> None:
    assert client.get("/boom").status_code == 500
    assert (
        sample("ragstream_http_requests_total", service=service, method="GET", route="/boom", status="500")
        == 1
    )
    assert sample("ragstream_errors_total", component=service, type="RuntimeError") == 1


def test_streamed_responses_are_measured(client: TestClient, service: str) -> None:
    assert client.get("/stream").text == "ab"
    assert sample("ragstream_http_request_seconds_count", service=service, method="GET", route="/stream") == 1


def test_metrics_page_exposes_the_registry(client: TestClient, service: str) -> None:
    client.get("/v1/documents/x")
    page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    assert value(page.text, "ragstream_http_requests_total", service=service, status="200") == 1
