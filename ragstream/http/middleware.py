"""The two pure ASGI middlewares in front of both APIs: the body limit, then authentication.

Pure ASGI, so neither buffers anything: the body limit counts bytes as the app reads them, and
authentication looks at headers only, so an unauthenticated request is answered before a byte of
its body is read.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragstream.auth import Authenticator, AuthUnavailable, Forbidden, Unauthenticated
from ragstream.http.problems import problem, unauthenticated

# Open to everyone: probes, Prometheus and the API's own documentation.
PUBLIC_PATHS = frozenset(
    {"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
# The web console's page and assets: static, no data (the page calls the API with its credential).
PUBLIC_PREFIX = "/console"
IDENTITY = "identity"  # where the authenticated identity lives in the request's state


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


class BodyLimitMiddleware:
    """413 for a body over `limit` bytes: at once when Content-Length says so, else as soon as the
    bytes received pass it (chunked uploads), so the app never holds more than the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            detail = f"the request body ({length} bytes) is over the limit of {self.limit} bytes"
            await problem("body-too-large", detail, headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                # What arrived, for whoever charges for it after a form parser consumed the stream.
                scope.setdefault("state", {})["body_bytes"] = received
                if received > self.limit:
                    # FastAPI re-raises an HTTPException met while reading the body, so the app's
                    # problem handler answers it; the except below covers any other reader.
                    raise BodyTooLarge(self.limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except BodyTooLarge as exc:
            if started:
                raise
            await problem("body-too-large", str(exc.detail), headers={"Connection": "close"})(
                scope, receive, send
            )


def _console(path: str) -> bool:
    return path == PUBLIC_PREFIX or path.startswith(PUBLIC_PREFIX + "/")


class AuthenticationMiddleware:
    """Authenticates every request outside PUBLIC_PATHS once, from its headers, and leaves the
    identity in the request's state for the routes' scope checks."""

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, public: Collection[str] = PUBLIC_PATHS
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public = frozenset(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.public or _console(path):
            await self.app(scope, receive, send)
            return
        try:
            identity = await self.authenticator.authenticate(Headers(scope=scope))
        except Unauthenticated as exc:
            await unauthenticated(str(exc))(scope, receive, send)
            return
        except Forbidden as exc:
            await problem("forbidden", str(exc))(scope, receive, send)
            return
        except AuthUnavailable as exc:
            await problem("unavailable", str(exc), headers={"Retry-After": "5"})(scope, receive, send)
            return
        scope.setdefault("state", {})[IDENTITY] = identity
        await self.app(scope, receive, send)
