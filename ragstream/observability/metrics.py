"""Metrics shared across processes. Component-specific ones live next to their code; every name is
listed in docs/metrics.md, which a unit test keeps in step with the registry."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

# Wide buckets: a validation takes milliseconds, an embedding batch on CPU can take tens of seconds.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

ERRORS = Counter(
    "ragstream_errors_total",
    "Errors by component (processor or service) and exception type",
    ["component", "type"],
)
PROCESSING_SECONDS = Histogram(
    "ragstream_processing_seconds",
    "Time a stream processor spends per record (per batch for the embed_* processors)",
    ["processor"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "ragstream_consumer_lag",
    "Records not yet committed by a consumer group (end offset - committed offset)",
    ["group", "topic", "partition"],
)
GROUP_MEMBERS = Gauge("ragstream_consumer_group_members", "Members of a consumer group", ["group"])
API_COMMANDS = Counter(
    "ragstream_api_commands_total",
    "Commands the command API was asked to write, by outcome",
    ["command", "outcome"],
)
HTTP_REQUESTS = Counter(
    "ragstream_http_requests_total",
    "HTTP requests by service, method, route template and status",
    ["service", "method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "ragstream_http_request_seconds",
    "HTTP request latency by service, method and route template",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)


def record_error(component: str, error: BaseException | str) -> None:
    ERRORS.labels(component, error if isinstance(error, str) else type(error).__name__).inc()


def observe_processing(processor: str, started: float) -> None:
    """`started` is a time.perf_counter() reading taken when the record (or batch) arrived."""
    PROCESSING_SECONDS.labels(processor).observe(time.perf_counter() - started)


def count_commands(names: Iterable[str], outcome: str) -> None:
    for name in names:
        API_COMMANDS.labels(name, outcome).inc()
