"""The asyncio client: the same operations as ragstream.client.sync, awaited.

async with AsyncClient.from_profile() as client:
    written = await client.upsert(DocumentIn(document_id="faq/1", content="..."))
    await written.wait_searchable()
    async for event in client.stream_answer("How do refunds work?"): ...
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import httpx

from ragstream.client import operations as ops
from ragstream.client.base import ClientBase
from ragstream.client.errors import ApiError, Unreachable, error_from_response
from ragstream.http.sse import SseDecoder
from ragstream.queries.outcomes import CommandOutcome

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class AsyncWriteResult(ops.Written):
    client: AsyncClient = field(repr=False, compare=False, kw_only=True)

    async def wait_searchable(self, timeout_s: float = 60.0) -> AsyncWriteResult:
        """Returns once the query API's read models have applied these writes."""
        await self.client.wait_searchable(self.consistency_token, timeout_s=timeout_s)
        return self

    async def outcomes(self, timeout_s: float = 60.0) -> list[CommandOutcome]:
        """What became of each write: searchable, rejected (with the reason) or timeout, waited
        for on the query API's event stream one write after the other."""
        return [await self.client.wait_for(c, timeout_s=timeout_s) for c in self.commands]


class AsyncClient(ClientBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = httpx.AsyncClient(headers=self.headers, timeout=self.timeout_s, verify=self.verify)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def send(self, call: ops.Call) -> httpx.Response:
        """One call, retried while the API says "later"; an error answer raises its typed error."""
        request = self._http.build_request(
            call.method, self.url(call), json=call.json, params=call.params, content=call.content,
            headers=call.headers,
        )  # fmt: skip
        for attempt in itertools.count():
            try:
                response = await self._http.send(request, stream=call.stream)
            except httpx.TransportError as exc:
                raise Unreachable(self.urls[call.api], exc) from exc
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            error = error_from_response(response)
            wait = self.retry.delay(error, attempt) if call.retry else None
            if wait is None:
                raise error
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def run(self, op: ops.Operation[T]) -> T:
        """Drives an operation: each call it yields is sent, each answer (or error) handed back."""
        try:
            call = next(op)
            while True:
                try:
                    response = await self.send(call)
                except ApiError as exc:
                    call = op.throw(exc)
                else:
                    call = op.send(response)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def bind(self, op: Callable[P, ops.Operation[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(op)
        async def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.run(op(*args, **kwargs))

        return method

    def bind_write(
        self, op: Callable[P, ops.Operation[ops.Written]]
    ) -> Callable[P, Coroutine[Any, Any, AsyncWriteResult]]:
        @functools.wraps(op)
        async def method(*args: P.args, **kwargs: P.kwargs) -> AsyncWriteResult:
            return AsyncWriteResult((await self.run(op(*args, **kwargs))).commands, client=self)

        return method

    def bind_stream(self, call: Callable[P, ops.Call]) -> Callable[P, AsyncIterator[ops.AnswerEvent]]:
        @functools.wraps(call)
        async def method(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[ops.AnswerEvent]:
            response = await self.send(call(*args, **kwargs))
            try:
                decoder = SseDecoder()
                async for line in response.aiter_lines():
                    if (event := decoder.feed(line)) and (parsed := ops.answer_event(event)):
                        yield parsed
            finally:
                await response.aclose()

        return method
