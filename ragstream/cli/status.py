"""`ragstream status`: the whole pipeline on one screen.

Stack services, topic sizes, the stream workers' consumer-group lag per partition, the query node's
read-model generation and freshness, and the dead-letter count. It reads everything from the broker
and the services' own endpoints, so it works with no worker running (which is when lag matters most).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ragstream.local import stack
from ragstream.observability.lag import GroupLag, PartitionLag, PartitionOffsets, group_lag, topic_offsets
from ragstream.observability.scrape import HistogramSummary, histograms
from ragstream.settings import Settings, get_settings
from ragstream.topics import catalogue

KAFKA_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 5.0
FRESHNESS = "ragstream_freshness_seconds"


@dataclass
class QueryNode:
    url: str
    ready: dict[str, Any] | None = None
    error: str | None = None
    freshness: dict[str, HistogramSummary] = field(default_factory=dict)


@dataclass
class StatusReport:
    group: str
    lag_threshold: int
    services: list[stack.ServiceStatus] = field(default_factory=list)
    offsets: list[PartitionOffsets] = field(default_factory=list)
    lag: GroupLag | None = None
    dlq_topic: str = ""
    kafka_error: str | None = None
    query: QueryNode | None = None

    def is_lagging(self, p: PartitionLag) -> bool:
        # With no member left in the group, any backlog is one nobody is working off.
        return p.lag > self.lag_threshold or (p.lag > 0 and self.lag is not None and self.lag.members == 0)

    @property
    def lagging(self) -> list[PartitionLag]:
        return [p for p in self.lag.partitions if self.is_lagging(p)] if self.lag else []

    @property
    def dead_letters(self) -> int | None:
        if self.kafka_error is not None:
            return None
        return sum(o.records for o in self.offsets if o.topic == self.dlq_topic)

    @property
    def healthy(self) -> bool:
        return all(s.running for s in self.services) and self.kafka_error is None and not self.lagging


async def _kafka(settings: Settings, group: str, report: StatusReport) -> None:
    topics = catalogue(settings.kafka.topic_prefix)
    inputs = [topics.commands.name, topics.events.name, topics.chunks.name]
    try:
        report.offsets = await asyncio.wait_for(
            topic_offsets(settings.kafka, [t.name for t in topics.all()]), KAFKA_TIMEOUT_S
        )
        report.lag = await asyncio.wait_for(group_lag(settings.kafka, group, inputs), KAFKA_TIMEOUT_S)
    except Exception as exc:
        report.kafka_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _query_node(url: str) -> QueryNode:
    node = QueryNode(url)
    # The counts are the operator's (/v1/admin/status): with auth on, RAGSTREAM_API_KEY must hold `operator`.
    headers = {"X-API-Key": key} if (key := os.environ.get("RAGSTREAM_API_KEY")) else {}
    async with httpx.AsyncClient(base_url=url, timeout=HTTP_TIMEOUT_S, headers=headers) as client:
        try:
            ready = await client.get("/ready")
            if ready.status_code != 200:
                node.error = f"not ready ({ready.status_code})"
            else:
                status = await client.get("/v1/admin/status")
                node.ready = status.json() if status.status_code == 200 else {}
            metrics = await client.get("/metrics")
            if metrics.status_code == 200:
                node.freshness = histograms(metrics.text, FRESHNESS, "read_model")
        except httpx.HTTPError as exc:
            node.error = f"unreachable: {type(exc).__name__}"
    return node


async def collect_status(
    settings: Settings,
    *,
    query_url: str | None = None,
    lag_threshold: int | None = None,
    group: str | None = None,
) -> StatusReport:
    """Everything `ragstream status` shows; the stack scripts run in a thread meanwhile."""
    report = StatusReport(
        group=group or settings.streams.app_id,
        lag_threshold=settings.observability.lag_threshold if lag_threshold is None else lag_threshold,
        dlq_topic=catalogue(settings.kafka.topic_prefix).dlq.name,
    )
    url = query_url or f"http://{settings.api.query_host}:{settings.api.query_port}"
    services, _, report.query = await asyncio.gather(
        asyncio.to_thread(stack.status, settings), _kafka(settings, report.group, report), _query_node(url)
    )
    report.services = services
    return report


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _stack_table(report: StatusReport) -> Table:
    table = Table("service", "state", "detail", title="stack", title_justify="left", title_style="bold")
    for s in report.services:
        table.add_row(s.name, "[green]running[/green]" if s.running else "[red]stopped[/red]", s.detail)
    return table


def _group_heading(g: GroupLag) -> Text:
    return Text.assemble(
        ("consumer group ", "bold"), (g.group, "bold"), f": {g.state}, ",
        (f"{g.members} member(s)", "red" if g.members == 0 else ""), f", lag {g.total}",
    )  # fmt: skip


def _topics_table(report: StatusReport) -> Table:
    """One row per topic, with the group's lag per partition: fits one screen at any partition count."""
    table = Table("topic", "records", "end offset", "group lag", "lag by partition", "")
    by_topic: dict[str, list[PartitionOffsets]] = {}
    for o in report.offsets:
        by_topic.setdefault(o.topic, []).append(o)
    lags: dict[str, list[PartitionLag]] = {}
    for p in report.lag.partitions if report.lag else []:
        lags.setdefault(p.topic, []).append(p)
    for topic in sorted(by_topic.keys() | lags.keys()):
        parts = by_topic.get(topic, [])
        records = sum(p.records for p in parts)
        dlq = "red" if topic == report.dlq_topic and records else ""
        consumed = lags.get(topic, [])
        per_partition = Text()
        for p in consumed:
            per_partition.append(f"{p.partition}:{p.lag} ", style="bold red" if report.is_lagging(p) else "")
        lagging = any(report.is_lagging(p) for p in consumed)
        state = Text("LAGGING", "bold red") if lagging else Text("ok", "green") if consumed else Text("")
        table.add_row(
            Text(topic, style=dlq), Text(str(records), style=dlq), str(sum(p.end for p in parts)),
            Text(str(sum(p.lag for p in consumed)), "bold red" if lagging else "") if consumed else Text("-"),
            per_partition, state,
        )  # fmt: skip
    return table


def _query_table(node: QueryNode) -> Group:
    ready = node.ready or {}
    heading = Text.assemble(("query node ", "bold"), (node.url, "bold"), ": ")
    if node.error:
        heading.append(node.error, style="red")
    else:
        heading.append(
            f"generation {ready.get('generation', '?')}, {ready.get('documents', '?')} documents, "
            f"{ready.get('chunks', '?')} chunks"
        )
    if not node.freshness:
        return Group(heading)
    table = Table("read model", "changes applied", "freshness mean", "p50", "p99")
    for read_model, h in sorted(node.freshness.items()):
        table.add_row(
            read_model,
            f"{h.count:.0f}",
            _seconds(h.mean),
            _seconds(h.quantile(0.5)),
            _seconds(h.quantile(0.99)),
        )
    return Group(heading, table)


def render(report: StatusReport) -> Group:
    parts: list[Any] = [_stack_table(report)]
    if report.kafka_error is not None:
        parts.append(Text(f"kafka: {report.kafka_error}", style="red"))
    else:
        if report.lag is not None:
            parts.append(_group_heading(report.lag))
        parts.append(_topics_table(report))
    if report.query is not None:
        parts.append(_query_table(report.query))
    dead = report.dead_letters
    parts.append(Text(f"dead letters: {dead if dead is not None else '?'}", style="red" if dead else "green"))
    lagging = report.lagging
    if lagging:
        topics = ", ".join(sorted({f"{p.topic}[{p.partition}]" for p in lagging}))
        parts.append(
            Text(f"LAGGING: {sum(p.lag for p in lagging)} records behind on {topics}", style="bold red")
        )
    return Group(*parts)


def status(
    query_url: str | None = typer.Option(None, help="Query API to read (default: settings api.query_*)."),
    lag_threshold: int | None = typer.Option(
        None,
        min=0,
        help="Records behind before a partition is LAGGING (default: RAGSTREAM_OBSERVABILITY__LAG_THRESHOLD or 100).",
    ),
    group: str | None = typer.Option(None, help="Consumer group (default: settings streams.app_id)."),
) -> None:
    """Stack health, topic sizes, stream-worker lag, read-model freshness and dead letters at a glance."""
    report = asyncio.run(
        collect_status(get_settings(), query_url=query_url, lag_threshold=lag_threshold, group=group)
    )
    Console().print(Panel(render(report), title="ragstream status", expand=False))
    if not report.healthy:
        raise typer.Exit(1)
