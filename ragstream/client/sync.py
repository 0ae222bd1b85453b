"""The blocking client.

    with Client.from_profile() as client:        # or Client(query_url, command_url, api_key=...)
        client.upsert(DocumentIn(document_id="faq/1", content="...")).wait_searchable()
        for hit in client.search("refunds").hits: ...

Its methods (search, answer, upsert, ...) are the operations of ragstream.client.operations, bound in
ragstream.client.base.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator
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
class WriteResult(ops.Written):
    client: Client = field(repr=False, compare=False, kw_only=True)

    def wait_searchable(self, timeout_s: float = 60.0) -> WriteResult:
        """Returns once the query API's read models have applied these writes."""
        self.client.wait_searchable(self.consistency_token, timeout_s=timeout_s)
        return self

    def outcomes(self, timeout_s: float = 60.0) -> list[CommandOutcome]:
        """What became of each write: searchable, rejected (with the reason) or timeout, waited
        for on the query API's event stream one write after the other."""
        return [self.client.wait_for(c, timeout_s=timeout_s) for c in self.commands]


class Client(ClientBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = httpx.Client(headers=self.headers, timeout=self.timeout_s, verify=self.verify)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(self, call: ops.Call) -> httpx.Response:
        """One call, retried while the API says "later"; an error answer raises its typed error."""
        request = self._http.build_request(
            call.method, self.url(call), json=call.json, params=call.params, content=call.content,
            headers=call.headers,
        )  # fmt: skip
        for attempt in itertools.count():
            try:
                response = self._http.send(request, stream=call.stream)
            except httpx.TransportError as exc:
                raise Unreachable(self.urls[call.api], exc) from exc
            if response.status_code < 400:
                return response
            response.read()
            response.close()
            error = error_from_response(response)
            wait = self.retry.delay(error, attempt) if call.retry else None
            if wait is None:
                raise error
            time.sleep(wait)
        raise AssertionError("unreachable")

    def run(self, op: ops.Operation[T]) -> T:
        """Drives an operation: each call it yields is sent, each answer (or error) handed back."""
        try:
            call = next(op)
            while True:
                try:
                    response = self.send(call)
                except ApiError as exc:
                    call = op.throw(exc)
                else:
                    call = op.send(response)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def bind(self, op: Callable[P, ops.Operation[T]]) -> Callable[P, T]:
        @functools.wraps(op)
        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return self.run(op(*args, **kwargs))

        return method

    def bind_write(self, op: Callable[P, ops.Operation[ops.Written]]) -> Callable[P, WriteResult]:
        @functools.wraps(op)
        def method(*args: P.args, **kwargs: P.kwargs) -> WriteResult:
            return WriteResult(self.run(op(*args, **kwargs)).commands, client=self)

        return method

    def bind_stream(self, call: Callable[P, ops.Call]) -> Callable[P, Iterator[ops.AnswerEvent]]:
        @functools.wraps(call)
        def method(*args: P.args, **kwargs: P.kwargs) -> Iterator[ops.AnswerEvent]:
            response = self.send(call(*args, **kwargs))
            try:
                decoder = SseDecoder()
                for line in response.iter_lines():
                    if (event := decoder.feed(line)) and (parsed := ops.answer_event(event)):
                        yield parsed
            finally:
                response.close()

        return method
