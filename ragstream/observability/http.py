"""HTTP metrics and trace context for the FastAPI services, as one pure ASGI middleware.

Pure ASGI rather than BaseHTTPMiddleware: the trace context it binds is visible to the endpoint (and
to the Kafka producer it calls), streamed answers are timed to their last byte, and nothing is
buffered. Routes are labelled by their template (`/v1/documents/{document_id:path}`), never by the
raw path, so document ids cannot blow up the number of series.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragstream.observability.metrics import HTTP_REQUESTS, HTTP_SECONDS, record_error
from ragstream.observability.tracing import TRACEPARENT, LogContext, bind, continue_trace, reset

UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = continue_trace(Headers(scope=scope).get(TRACEPARENT))
        token = bind(LogContext(trace=trace))
        status = 500  # what the client gets if the app raises before it starts a response
        started = time.perf_counter()

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # The client can quote this to find the request in the logs of every stage.
                MutableHeaders(scope=message).append(TRACEPARENT, trace.traceparent)
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        except Exception as exc:
            record_error(self.service, exc)
            raise
        finally:
            route = route_template(scope)
            method = str(scope.get("method", ""))
            HTTP_SECONDS.labels(self.service, method, route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            reset(token)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def instrument_app(app: FastAPI, service: str, *, metrics_route: bool = True) -> None:
    """Add the middleware (outermost, so it sees every status) and, unless the app has one, /metrics."""
    app.add_middleware(ObservabilityMiddleware, service=service)
    if metrics_route:

        async def metrics() -> Any:
            return metrics_response()

        app.add_api_route("/metrics", metrics, methods=["GET"], tags=["ops"], include_in_schema=False)
