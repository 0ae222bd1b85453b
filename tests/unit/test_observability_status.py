"""`ragstream status` rendering, lag arithmetic and reading histograms from a /metrics page."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from rich.console import Console

from ragstream.cli.status import QueryNode, StatusReport, render
from ragstream.local.stack import ServiceStatus
from ragstream.observability.lag import GroupLag, PartitionLag, PartitionOffsets
from ragstream.observability.scrape import HistogramSummary, histograms, value

pytestmark = pytest.mark.unit


def text_of(report: StatusReport) -> str:
    console = Console(record=True, width=160, color_system="truecolor")
    console.print(render(report))
    return console.export_text()


def report(*, members: int, lags: list[tuple[int | None, int]], threshold: int = 100) -> StatusReport:
    partitions = [PartitionLag("t.document-commands", i, c, e) for i, (c, e) in enumerate(lags)]
    return StatusReport(
        group="workers",
        lag_threshold=threshold,
        services=[ServiceStatus("kafka", True, "ok"), ServiceStatus("postgres", True, "ok")],
        offsets=[
            PartitionOffsets("t.document-commands", i, 0, e) for i, (_, e) in enumerate(lags)
        ] + [PartitionOffsets("t.dead-letters", 0, 0, 2)],
        lag=GroupLag("workers", "Stable" if members else "Empty", members, partitions),
        dlq_topic="t.dead-letters",
        query=QueryNode("http://q", ready={"generation": "g1", "documents": 3, "chunks": 9}),
    )  # fmt: skip


def test_partition_lag_counts_from_the_commit_or_from_the_beginning() -> None:
    assert PartitionLag("t", 0, 7, 10).lag == 3
    assert PartitionLag("t", 0, None, 10, beginning=4).lag == 6
    assert PartitionLag("t", 0, 12, 10).lag == 0  # a commit racing the end-offset read
    # A transaction's commit marker takes an offset but is no record: counted records win.
    assert PartitionLag("t", 0, 2, 3, records=0).lag == 0


def test_a_healthy_group_is_not_lagging() -> None:
    r = report(members=1, lags=[(10, 10), (5, 8)])
    text = text_of(r)
    assert "LAGGING" not in text and r.healthy
    assert "generation g1, 3 documents, 9 chunks" in text
    assert "dead letters: 2" in text and r.dead_letters == 2


def test_lag_over_the_threshold_is_lagging() -> None:
    r = report(members=1, lags=[(10, 10), (5, 500)])
    text = text_of(r)
    assert "LAGGING: 495 records behind on t.document-commands[1]" in text
    assert not r.healthy and [p.partition for p in r.lagging] == [1]


def test_any_backlog_without_a_worker_is_lagging() -> None:
    r = report(members=0, lags=[(10, 13), (5, 5)])
    text = text_of(r)
    assert "LAGGING: 3 records behind on t.document-commands[0]" in text
    assert "Empty" in text


def test_lagging_rows_are_red() -> None:
    console = Console(record=True, width=160, color_system="truecolor")
    console.print(render(report(members=0, lags=[(10, 13)])))
    html = console.export_html(inline_styles=True)
    assert "LAGGING" in html and "color: #800000" in html


def test_an_unreachable_kafka_or_query_node_is_shown_not_raised() -> None:
    r = StatusReport(group="g", lag_threshold=1, kafka_error="KafkaConnectionError",
                     query=QueryNode("http://q", error="unreachable: ConnectError"))  # fmt: skip
    text = text_of(r)
    assert "kafka: KafkaConnectionError" in text and "unreachable: ConnectError" in text
    assert not r.healthy and r.dead_letters is None


def test_histograms_are_read_per_label_with_quantiles() -> None:
    registry = CollectorRegistry()
    h = Histogram("ragstream_freshness_seconds", "f", ["read_model"], buckets=(1, 2, 5), registry=registry)
    for v in (0.5, 1.5, 1.5, 4.0):
        h.labels("vector").observe(v)
    h.labels("lexical").observe(0.2)
    page = generate_latest(registry).decode()
    got = histograms(page, "ragstream_freshness_seconds", "read_model")
    assert set(got) == {"vector", "lexical"}
    vector = got["vector"]
    assert vector.count == 4 and vector.mean == pytest.approx(7.5 / 4)
    assert vector.quantile(0.5) == pytest.approx(1.5)  # rank 2 of 4: halfway into (1, 2]
    assert vector.quantile(0.99) == pytest.approx(2 + 3 * (3.96 - 3))
    assert value(page, "ragstream_freshness_seconds_count", read_model="lexical") == 1


def test_quantiles_past_the_last_bucket_and_of_nothing() -> None:
    assert HistogramSummary().quantile(0.5) is None
    beyond = HistogramSummary(count=2, total=100, buckets={1.0: 0, float("inf"): 2})
    assert beyond.quantile(0.99) == 1.0
