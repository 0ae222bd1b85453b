"""Strict JSON request bodies: whatever a client sends, a clear 422, never a 5xx.

Python's json module accepts things that break later, far from the request: lone surrogate escapes
(`"\\ud800"`, which no UTF-8 encoder can write, so rendering an error or an Avro record fails), NUL
characters, NaN and Infinity, integers no 64-bit field can hold, and nesting deep enough to exhaust
the stack. Each is refused while parsing, as a JSON decode error, which FastAPI answers with 422.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

MAX_DEPTH = 32
INT64 = 2**63


def _bad(message: str) -> json.JSONDecodeError:
    # An empty document: the caller's text (possibly huge or unprintable) is never echoed.
    return json.JSONDecodeError(message, "", 0)


def _constant(name: str) -> Any:
    raise _bad(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _bad(f"number {text[:32]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > 20:
        raise _bad("integer out of range")
    value = int(text)
    if not -INT64 <= value < INT64:
        raise _bad("integer out of range")
    return value


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise _bad("strings must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad("strings must be valid Unicode (no lone surrogate escapes)") from None


def _check(value: Any) -> None:
    """Depth and strings of a parsed document, iteratively (a hostile document must not recurse us)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise _bad(f"nesting deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_string(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise _bad(f"nesting deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        if not exc.doc:
            raise  # one of ours, from a number hook
        raise _bad(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    _check(value)
    return value


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """The route class of every API router: its handler parses bodies with `parse_json`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict
