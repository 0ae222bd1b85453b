"""Trace context across Kafka headers, and the log formats that show it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from ragstream.observability.logging import ContextTextFormatter, JsonFormatter, logging_config
from ragstream.observability.tracing import (
    LogContext,
    TraceContext,
    bind,
    bind_message,
    continue_trace,
    current,
    header_value,
    parse_traceparent,
    propagated_headers,
    reset,
    split_key,
    trace_headers,
)
from ragstream.streams.dlq import dead_letter_headers

pytestmark = pytest.mark.unit
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass
class Message:
    key: bytes | None
    headers: Any


@pytest.fixture(autouse=True)
def fresh_context() -> Any:
    token = bind(LogContext())
    yield
    reset(token)


def test_traceparent_round_trips() -> None:
    trace = parse_traceparent(PARENT)
    assert trace == TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert trace.traceparent == PARENT
    assert parse_traceparent(PARENT.upper().encode()) == trace


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # v00 has no more fields
    ],
)
def test_invalid_traceparents_are_ignored(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_a_later_version_may_add_fields() -> None:
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more") is not None


def test_continuing_a_trace_keeps_its_id_and_makes_a_new_span() -> None:
    child = continue_trace(PARENT)
    assert child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert child.span_id != "00f067aa0ba902b7" and len(child.span_id) == 16
    fresh = continue_trace("not a traceparent")
    assert parse_traceparent(fresh.traceparent) == fresh


def test_headers_come_as_pairs_or_mappings() -> None:
    assert header_value([("command_id", b"c1"), ("type", b"X")], "command_id") == b"c1"
    assert header_value({"command_id": "c1"}, "command_id") == b"c1"
    assert header_value(None, "command_id") is None
    assert header_value((), "traceparent") is None


def test_document_keys_split_into_tenant_and_id() -> None:
    assert split_key(b"acme/faq/1") == ("acme", "faq/1")
    assert split_key(b"nokey") == (None, "nokey")
    assert split_key(None) == (None, None)


def test_a_processor_continues_the_trace_of_its_input_and_passes_it_on() -> None:
    bind_message(Message(b"acme/faq/1", [("traceparent", PARENT.encode()), ("command_id", b"cmd-7")]))
    ctx = current()
    assert (ctx.tenant, ctx.document_id, ctx.command_id) == ("acme", "faq/1", "cmd-7")
    assert ctx.trace is not None and ctx.trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = dict(propagated_headers())
    assert headers["command_id"] == b"cmd-7"
    out = parse_traceparent(headers["traceparent"])
    # The next stage's parent is this stage's span, in the same trace.
    assert out == ctx.trace and out.span_id != "00f067aa0ba902b7"


def test_a_record_without_trace_starts_one_and_replaces_the_previous_context() -> None:
    bind_message(Message(b"acme/a", [("command_id", b"c1")]))
    bind_message(Message(b"acme/b", []))
    ctx = current()
    assert ctx.document_id == "b" and ctx.command_id is None and ctx.trace is not None
    assert [name for name, _ in propagated_headers()] == ["traceparent"]


def test_nothing_is_propagated_outside_a_record() -> None:
    assert propagated_headers() == []


def test_a_new_command_gets_the_request_trace_or_a_fresh_one() -> None:
    ((name, value),) = trace_headers()
    assert name == "traceparent" and parse_traceparent(value) is not None
    trace = TraceContext.new()
    bind(LogContext(trace=trace))
    assert trace_headers() == [("traceparent", trace.traceparent.encode())]


def test_dead_letters_carry_the_failing_records_trace_and_command() -> None:
    bind_message(Message(b"acme/x", [("traceparent", PARENT.encode()), ("command_id", b"cmd-9")]))
    headers = dead_letter_headers(
        processor="chunk_documents", error=ValueError("bad"), topic="t", partition=1, offset=5
    )
    assert headers["command_id"] == b"cmd-9"
    assert parse_traceparent(headers["traceparent"]).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"  # type: ignore[union-attr]
    assert headers["error_type"] == b"ValueError"


def record(msg: str = "hello %s", *args: Any, **extra: Any) -> logging.LogRecord:
    rec = logging.makeLogRecord({"name": "ragstream.test", "levelname": "WARNING", "levelno": 30,
                                 "msg": msg, "args": args or ("world",), **extra})  # fmt: skip
    return rec


def test_json_lines_carry_the_context_and_extras() -> None:
    bind_message(Message(b"acme/faq/1", [("traceparent", PARENT.encode()), ("command_id", b"cmd-7")]))
    line = json.loads(JsonFormatter().format(record(partition=3)))
    assert (
        line["message"] == "hello world" and line["level"] == "WARNING" and line["logger"] == "ragstream.test"
    )
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert (line["command_id"], line["tenant"], line["document_id"]) == ("cmd-7", "acme", "faq/1")
    assert line["partition"] == 3


def test_json_lines_include_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        rec = record(exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(rec))
    assert "RuntimeError: boom" in line["exception"] and "trace_id" not in line


def test_text_lines_append_the_context_only_when_there_is_one() -> None:
    formatter = ContextTextFormatter("%(levelname)s %(message)s")
    assert formatter.format(record()) == "WARNING hello world"
    bind_message(Message(b"acme/faq/1", [("command_id", b"cmd-7")]))
    line = formatter.format(record())
    assert line.startswith("WARNING hello world [command_id=cmd-7 tenant=acme document_id=faq/1 trace_id=")


def test_logging_config_picks_the_format_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSTREAM_OBSERVABILITY__LOG_FORMAT", "json")
    config = logging_config("warning")
    assert config["formatters"]["ragstream"]["()"].endswith("JsonFormatter")
    assert config["root"]["level"] == "WARNING"
    # uvicorn's loggers go through the same handler.
    assert config["loggers"]["uvicorn.access"] == {"handlers": [], "propagate": True}
    monkeypatch.setenv("RAGSTREAM_OBSERVABILITY__LOG_FORMAT", "text")
    assert logging_config(logging.INFO)["formatters"]["ragstream"]["()"].endswith("ContextTextFormatter")
