"""W3C trace context and the per-record log context, carried in Kafka headers between processes.

The command API starts (or continues) a trace per request; the SDK writes its `traceparent` into each
command's headers; every processor continues the trace from its input record's headers and writes
its own span into the records it produces, together with the command id. Log lines pick the context
up from a ContextVar, so nothing has to be passed around explicitly.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from typing import Any

TRACEPARENT = "traceparent"
COMMAND_ID = "command_id"
_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def new(cls) -> TraceContext:
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    def child(self) -> TraceContext:
        """A new span in the same trace: what a process does with a record it received."""
        return replace(self, span_id=secrets.token_hex(8))

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse_traceparent(value: str | bytes | None) -> TraceContext | None:
    """None for anything the W3C spec says to ignore (bad shape, version ff, all-zero ids)."""
    if value is None:
        return None
    text = value.decode("ascii", errors="replace") if isinstance(value, bytes) else value
    match = _TRACEPARENT_RE.match(text.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return TraceContext(trace_id, span_id, flags)


def continue_trace(traceparent: str | bytes | None) -> TraceContext:
    """The span for work caused by a caller: a child of its span, or a new trace when it sent none."""
    parent = parse_traceparent(traceparent)
    return parent.child() if parent is not None else TraceContext.new()


@dataclass(frozen=True)
class LogContext:
    trace: TraceContext | None = None
    command_id: str | None = None
    tenant: str | None = None
    document_id: str | None = None

    def fields(self) -> dict[str, str]:
        """The non-empty fields, flat, as a log line shows them."""
        out: dict[str, str] = {}
        for name in ("command_id", "tenant", "document_id"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.trace is not None:
            out["trace_id"] = self.trace.trace_id
            out["span_id"] = self.trace.span_id
        return out


# LogContext is frozen, so sharing one default instance is safe.
_CONTEXT: ContextVar[LogContext] = ContextVar(
    "ragstream_log_context",
    default=LogContext(),  # noqa: B039
)


def current() -> LogContext:
    return _CONTEXT.get()


def bind(context: LogContext) -> Token[LogContext]:
    return _CONTEXT.set(context)


def reset(token: Token[LogContext]) -> None:
    _CONTEXT.reset(token)


def header_value(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None, name: str) -> bytes | None:
    """One header of a Kafka record; aiokafka gives a sequence of pairs, faust sometimes a mapping."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == name:
            return value.encode() if isinstance(value, str) else bytes(value)
    return None


def split_key(key: bytes | None) -> tuple[str | None, str | None]:
    """`tenant/document_id` (the key of every document topic) into its parts."""
    if not key:
        return None, None
    tenant, sep, document_id = key.decode(errors="replace").partition("/")
    return (tenant, document_id) if sep else (None, tenant)


def bind_message(message: Any) -> LogContext:
    """Make a consumed record the current context: its trace continues, its ids go into log lines.

    Replaces (not stacks on) the previous record's context, since an agent handles one record at a time.
    """
    headers = getattr(message, "headers", None)
    tenant, document_id = split_key(getattr(message, "key", None))
    command_id = header_value(headers, COMMAND_ID)
    context = LogContext(
        trace=continue_trace(header_value(headers, TRACEPARENT)),
        command_id=command_id.decode(errors="replace") if command_id else None,
        tenant=tenant,
        document_id=document_id,
    )
    _CONTEXT.set(context)
    return context


def propagated_headers() -> list[tuple[str, bytes]]:
    """Headers for a record produced while handling the current one (empty outside any context)."""
    context = current()
    headers: list[tuple[str, bytes]] = []
    if context.trace is not None:
        headers.append((TRACEPARENT, context.trace.traceparent.encode()))
    if context.command_id:
        headers.append((COMMAND_ID, context.command_id.encode()))
    return headers


def trace_headers() -> list[tuple[str, bytes]]:
    """The traceparent for a new command: the current span's, or a fresh trace's outside a request."""
    trace = current().trace or TraceContext.new()
    return [(TRACEPARENT, trace.traceparent.encode())]
