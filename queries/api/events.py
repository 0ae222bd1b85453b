"""Server-Sent Events that wait for one thing: how `GET /v1/documents/{id}/events` streams, and how
many such streams a tenant may hold open on a replica."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any

from fastapi.responses import StreamingResponse

from ragstream.http.problems import KINDS, TYPE_BASE
from ragstream.http.ratelimit import RateLimited
from ragstream.http.sse import encode_event
from ragstream.queries.outcomes import CommandOutcome

KEEPALIVE_S = 15.0
Event = tuple[str, str]  # (event name, JSON data)


class StreamSlots:
    """At most `per_tenant` open streams per tenant (in this replica's memory, like rate limits)."""

    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._open: dict[str, int] = {}

    def take(self, tenant: str) -> Callable[[], None]:
        """A slot, or RateLimited (429); the returned release may be called any number of times."""
        if self._open.get(tenant, 0) >= self.per_tenant:
            raise RateLimited(f"tenant {tenant!r} already has {self.per_tenant} event streams open", 1)
        self._open[tenant] = self._open.get(tenant, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._open[tenant] -= 1
                if not self._open[tenant]:
                    del self._open[tenant]

        return release

    def open_streams(self, tenant: str) -> int:
        return self._open.get(tenant, 0)


def outcome_event(outcome: CommandOutcome) -> Event:
    return outcome.outcome, _json(asdict(outcome))


def problem_event(kind: str, detail: str) -> Event:
    status, title = KINDS[kind]
    return "error", _json({"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail})


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


async def _stream(wait: Callable[[], Awaitable[Event]], release: Callable[[], None]) -> AsyncIterator[bytes]:
    task: asyncio.Future[Event] | None = None
    try:
        # Headers go out at once, so the client knows it is waiting rather than connecting.
        yield b": waiting\n\n"
        task = asyncio.ensure_future(wait())
        while not (await asyncio.wait({task}, timeout=KEEPALIVE_S))[0]:
            yield b": keep-alive\n\n"
        name, data = task.result()
        yield encode_event(name, data)
    finally:
        if task is not None and not task.done():
            task.cancel()
        release()


def event_stream(wait: Callable[[], Awaitable[Event]], release: Callable[[], None]) -> StreamingResponse:
    """One event (after keep-alive comments while waiting), then the end of the stream. The slot is
    released when the stream ends, or when a stream that never started is collected."""
    body = _stream(wait, release)
    weakref.finalize(body, release)
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
