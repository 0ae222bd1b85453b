"""Real HTTP servers on 127.0.0.1 for the integration tests, each in a thread with its own event loop:
a webhook receiver that records what it gets and answers as told, and an OpenAI-compatible model
that can be made to fail."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.contextmanager
def serve(routes: list[tuple[str, str, Handler]]) -> Iterator[str]:
    """Serves (method, path, handler) routes until the block ends; yields the base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        app = web.Application()
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        # Handlers still sleeping (a hanging endpoint) are cut off at shutdown, not waited for.
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10), "the test server did not start"
    try:
        yield str(state["url"])
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """Records every POST; `behaviour[path]` is a list of what to do with the next requests there
    (an int status, or ("sleep", seconds)); once it is used up, 200."""

    received: list[Received] = field(default_factory=list)
    behaviour: dict[str, list[Any]] = field(default_factory=dict)
    always: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self.lock:
            self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
            queue = self.behaviour.get(request.path) or []
            action = queue.pop(0) if queue else self.always.get(request.path, 200)
        if isinstance(action, tuple) and action[0] == "sleep":
            await asyncio.sleep(action[1])
            return web.Response(status=200)
        if isinstance(action, tuple) and action[0] == "redirect":
            return web.Response(status=307, headers={"Location": action[1]})
        return web.Response(status=int(action), text="ok" if action == 200 else "nope")

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def events(self, path: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [r.event for r in self.at(path) if kind is None or r.event["type"] == kind]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve([("POST", "/{path:.*}", receiver.handle)]) as url:
        receiver.url = url
        yield receiver


@dataclass
class FakeModel:
    """An OpenAI-compatible chat endpoint: answers `content` (citing [1]) unless `failing`, when it
    answers 500; every request's messages are kept."""

    content: str = "The answer is in the first passage [1]."
    failing: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.failing:
            return web.json_response({"error": {"message": "down"}}, status=500)
        if not body.get("stream"):
            message = {"role": "assistant", "content": self.content}
            return web.json_response({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in self.content.split(" "):
            chunk = {"choices": [{"index": 0, "delta": {"content": piece + " "}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def system_prompts(self) -> list[str]:
        return [r["messages"][0]["content"] for r in self.requests]


@contextlib.contextmanager
def fake_model() -> Iterator[FakeModel]:
    model = FakeModel()
    with serve([("POST", "/v1/chat/completions", model.handle)]) as url:
        model.url = url + "/v1"
        yield model
