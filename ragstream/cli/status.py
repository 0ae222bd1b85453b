"""`ragstream status`: the whole pipeline on one screen.

Stack services, topic sizes, the stream workers' consumer-group lag per partition, the query node's
read-model generation and freshness, and the dead-letter count. It reads everything from the broker
and the services' own endpoints, so it works with no worker running (which is when lag matters most).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ragstream.cli.output import Col, ExitCode, console, emit, fitted_table, json_option
from ragstream.cli.session import open_session
from ragstream.client import NO_RETRIES, ApiError, AsyncClient, ClientError, Unreachable
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
    note: str = ""
    freshness: dict[str, HistogramSummary] = field(default_factory=dict)


@dataclass
class StatusReport:
    group: str
    lag_threshold: int
    services: list[stack.ServiceStatus] = field(default_factory=list)
    offsets: list[PartitionOffsets] = field(default_factory=list)
    lag: GroupLag | None = None
    dlq_topic: str = ""
    topic_prefix: str = ""
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
    inputs = [topics.commands.name, topics.events.name, topics.chunks.name, topics.bulk_chunks.name]
    try:
        report.offsets = await asyncio.wait_for(
            topic_offsets(settings.kafka, [t.name for t in topics.all()]), KAFKA_TIMEOUT_S
        )
        report.lag = await asyncio.wait_for(group_lag(settings.kafka, group, inputs), KAFKA_TIMEOUT_S)
    except Exception as exc:
        report.kafka_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _query_node(options: dict[str, Any]) -> QueryNode:
    node = QueryNode(options["query_url"])
    async with AsyncClient(**options, timeout_s=HTTP_TIMEOUT_S, retry=NO_RETRIES) as client:
        try:
            if not await client.ready():
                node.error = "not ready"
            else:
                try:
                    node.ready = await client.node_status()
                except ApiError as exc:
                    # The counts are the operator's (/v1/admin/status); without that scope they stay "?".
                    node.ready, node.note = {}, f"counts: {exc.status} {exc.title}"
            node.freshness = histograms(await client.metrics(), FRESHNESS, "read_model")
        except ClientError as exc:
            node.error = f"unreachable: {exc}" if isinstance(exc, Unreachable) else str(exc)
    return node


async def collect_status(
    settings: Settings,
    *,
    query_url: str | None = None,
    lag_threshold: int | None = None,
    group: str | None = None,
    client_options: dict[str, Any] | None = None,
) -> StatusReport:
    """Everything `ragstream status` shows; the stack scripts run in a thread meanwhile.

    `client_options`: how to reach the query API (a CLI session's); else `query_url` or the local port."""
    report = StatusReport(
        group=group or settings.streams.app_id,
        lag_threshold=settings.observability.lag_threshold if lag_threshold is None else lag_threshold,
        dlq_topic=catalogue(settings.kafka.topic_prefix).dlq.name,
        topic_prefix=settings.kafka.topic_prefix,
    )
    options = client_options or {
        "query_url": query_url or f"http://{settings.api.query_host}:{settings.api.query_port}"
    }
    services, _, report.query = await asyncio.gather(
        asyncio.to_thread(stack.status, settings),
        _kafka(settings, report.group, report),
        _query_node(options),
    )
    report.services = services
    return report


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _stack_table(report: StatusReport, width: int) -> Table:
    cols = [Col("service", 9), Col("state", 8), Col("detail", 3, wrap=True, min_width=20)]
    rows = [[s.name, "[green]running[/green]" if s.running else "[red]stopped[/red]", s.detail]
            for s in report.services]  # fmt: skip
    return fitted_table(cols, rows, width, title="stack")[0]


def _group_heading(g: GroupLag) -> Text:
    return Text.assemble(
        ("consumer group ", "bold"), (g.group, "bold"), f": {g.state}, ",
        (f"{g.members} member(s)", "red" if g.members == 0 else ""), f", lag {g.total}",
    )  # fmt: skip


def _topics_table(report: StatusReport, width: int) -> Table:
    """One row per topic, with the group's lag per partition: fits one screen at any partition count."""
    cols = [
        Col("topic", 9), Col("records", 6, justify="right"),
        Col("end offset", 1, justify="right"), Col("group lag", 7, justify="right"),
        Col("lag by partition", 3, wrap=True, min_width=10), Col("state", 8),
    ]  # fmt: skip
    by_topic: dict[str, list[PartitionOffsets]] = {}
    for o in report.offsets:
        by_topic.setdefault(o.topic, []).append(o)
    lags: dict[str, list[PartitionLag]] = {}
    for p in report.lag.partitions if report.lag else []:
        lags.setdefault(p.topic, []).append(p)
    rows: list[list[RenderableType]] = []
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
        rows.append([
            Text(topic.removeprefix(f"{report.topic_prefix}."), style=dlq), Text(str(records), style=dlq), str(sum(p.end for p in parts)),
            Text(str(sum(p.lag for p in consumed)), "bold red" if lagging else "") if consumed else Text("-"),
            per_partition, state,
        ])  # fmt: skip
    return fitted_table(cols, rows, width, title=f"topics {report.topic_prefix}.*")[0]


def _query_table(node: QueryNode, width: int) -> Group:
    ready = node.ready or {}
    heading = Text.assemble(("query node ", "bold"), (node.url, "bold"), ": ")
    if node.error:
        heading.append(node.error, style="red")
    else:
        heading.append(
            f"generation {ready.get('generation', '?')}, {ready.get('documents', '?')} documents, "
            f"{ready.get('chunks', '?')} chunks"
        )
        if node.note:
            heading.append(f" ({node.note})", style="dim")
    if not node.freshness:
        return Group(heading)
    cols = [Col("read model", 9), Col("changes applied", 6, justify="right"), Col("freshness mean", 5),
            Col("p50", 7), Col("p99", 8)]  # fmt: skip
    rows = [
        [
            read_model,
            f"{h.count:.0f}",
            _seconds(h.mean),
            _seconds(h.quantile(0.5)),
            _seconds(h.quantile(0.99)),
        ]
        for read_model, h in sorted(node.freshness.items())
    ]
    return Group(heading, fitted_table(cols, rows, width)[0])


def render(report: StatusReport, width: int = 120) -> Group:
    """The report for a terminal `width` columns wide (inside the panel's border)."""
    parts: list[Any] = [_stack_table(report, width)]
    if report.kafka_error is not None:
        parts.append(Text(f"kafka: {report.kafka_error}", style="red"))
    else:
        if report.lag is not None:
            parts.append(_group_heading(report.lag))
        parts.append(_topics_table(report, width))
    if report.query is not None:
        parts.append(_query_table(report.query, width))
    dead = report.dead_letters
    parts.append(Text(f"dead letters: {dead if dead is not None else '?'}", style="red" if dead else "green"))
    lagging = report.lagging
    if lagging:
        topics = ", ".join(sorted({f"{p.topic}[{p.partition}]" for p in lagging}))
        parts.append(
            Text(f"LAGGING: {sum(p.lag for p in lagging)} records behind on {topics}", style="bold red")
        )
    return Group(*parts)


def _lag(p: PartitionLag) -> dict[str, Any]:
    return {**asdict(p), "lag": p.lag}


def as_json(report: StatusReport) -> dict[str, Any]:
    node, g = report.query, report.lag
    return {
        "healthy": report.healthy,
        "services": [asdict(s) for s in report.services],
        "kafka_error": report.kafka_error,
        "topics": [{**asdict(o), "records": o.records} for o in report.offsets],
        "consumer_group": None if g is None else {
            "group": g.group, "state": g.state, "members": g.members, "lag": g.total,
            "partitions": [_lag(p) for p in g.partitions],
        },
        "lag_threshold": report.lag_threshold,
        "lagging": [_lag(p) for p in report.lagging],
        "dead_letters": report.dead_letters,
        "query_node": None if node is None else {
            "url": node.url, "status": node.ready, "error": node.error, "note": node.note or None,
            "freshness": {name: {"count": h.count, "mean_s": h.mean, "p50_s": h.quantile(0.5),
                                 "p99_s": h.quantile(0.99)} for name, h in node.freshness.items()},
        },
    }  # fmt: skip


# The panel's border and padding.
PANEL_COLUMNS = 4


def status(
    ctx: typer.Context,
    query_url: str | None = typer.Option(
        None, help="Query API to read (default: RAGSTREAM_QUERY_URL, the profile, then the local port)."
    ),
    lag_threshold: int | None = typer.Option(
        None,
        min=0,
        help="Records behind before a partition is LAGGING (default: RAGSTREAM_OBSERVABILITY__LAG_THRESHOLD or 100).",
    ),
    group: str | None = typer.Option(None, help="Consumer group (default: settings streams.app_id)."),
    json_output: bool = json_option(),
) -> None:
    """Stack health, topic sizes, stream-worker lag, read-model freshness and dead letters at a glance.

    The query node's counts need a credential with the operator scope (RAGSTREAM_API_KEY or a profile)."""
    options = open_session(ctx, url=query_url).client_options()
    report = asyncio.run(
        collect_status(get_settings(), lag_threshold=lag_threshold, group=group, client_options=options)
    )
    if json_output:
        emit(as_json(report))
    else:
        width = console.width - PANEL_COLUMNS
        console.print(Panel(render(report, width), title="ragstream status", expand=False))
    if not report.healthy:
        raise typer.Exit(ExitCode.ERROR)
