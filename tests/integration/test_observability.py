"""Observability on the real pipeline: every service's /metrics moves with an ingest, trace context
crosses the processors in Kafka headers, and `ragstream status` shows a stopped worker as lagging."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from ragstream.cli import status as status_cli
from ragstream.codec import load_codec
from ragstream.contracts import UpsertDocument, encode_command
from ragstream.local.pipeline import LocalPipeline
from ragstream.local.processes import free_port
from ragstream.observability.scrape import value
from ragstream.observability.tracing import parse_traceparent
from ragstream.settings import Settings
from ragstream.topics import catalogue, document_key
from tests.integration.helpers import (
    logs_on_failure,
    post_documents,
    read_topic,
    search,
    token_of,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Observed:
    def __init__(self, pipeline: LocalPipeline, worker_port: int) -> None:
        self.pipeline = pipeline
        self.worker_port = worker_port

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}"

    def scrape(self) -> dict[str, str]:
        urls = {
            "commands": self.pipeline.command_url,
            "queries": self.pipeline.query_url,
            "worker": self.worker_url,
        }
        return {name: httpx.get(f"{url}/metrics", timeout=10).text for name, url in urls.items()}


@pytest.fixture(scope="module")
def observed(pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    # The lag gauge refreshes every second here, so the test need not wait ten.
    env = dict(pipeline_env, RAGSTREAM_OBSERVABILITY__LAG_INTERVAL_S="1")
    running = LocalPipeline(env, Path(tmp_path_factory.mktemp("logs")))
    port = free_port()
    with logs_on_failure(running):
        running.create_topics()
        running.start_worker("worker-1", web_port=port)
        running.start_command_api()
        running.start_query_api()
        yield Observed(running, port)


def moved(before: str, after: str, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_every_service_reports_an_ingest(observed: Observed) -> None:
    pipeline = observed.pipeline
    before = observed.scrape()
    marker = uuid.uuid4().hex[:12]
    # Several documents in one request are a bulk import: their chunks go through the bulk lane.
    docs = [{"document_id": f"m{i}", "content": f"Metric probe {marker} number {i} about {w} herons."}
            for i, w in enumerate(["grey", "white", "night"])]  # fmt: skip
    response = httpx.post(f"{pipeline.command_url}/v1/documents", json={"documents": docs},
                          headers={"X-Tenant": "default", "traceparent": PARENT}, timeout=30)  # fmt: skip
    assert response.status_code == 202, response.text
    returned = parse_traceparent(response.headers["traceparent"])
    assert returned is not None and returned.trace_id == PARENT.split("-")[1]
    token = token_of(response.json()["commands"])
    assert len(search(pipeline.query_url, marker, mode="bm25", token=token)) == 3

    group = pipeline.settings.streams.app_id
    after: dict[str, str] = {}

    def progress() -> dict[str, bool]:
        after.update(observed.scrape())
        w, c, q = (before["worker"], after["worker"]), (before["commands"], after["commands"]), (before["queries"], after["queries"])  # fmt: skip
        checks = {
            f"processed {p}": moved(*w, "ragstream_processed_total", processor=p) >= 3
            for p in ("validate_commands", "chunk_documents", "embed_bulk_chunks", "record_registry")
        }
        checks["lag reported and worked off"] = (
            f'ragstream_consumer_lag{{group="{group}"' in after["worker"]
            and value(after["worker"], "ragstream_consumer_lag", group=group) == 0
        )
        checks["one group member"] = (
            value(after["worker"], "ragstream_consumer_group_members", group=group) == 1
        )
        checks["vector freshness"] = moved(*q, "ragstream_freshness_seconds_count", read_model="vector") >= 3
        checks["commands written"] = moved(*c, "ragstream_api_commands_total") >= 3
        return checks

    try:
        wait_until(lambda: all(progress().values()), timeout=60)
    except AssertionError:
        pytest.fail(f"metrics did not move: {progress()}")
    cmd, wrk, qry = (before["commands"], after["commands"]), (before["worker"], after["worker"]), (before["queries"], after["queries"])  # fmt: skip
    # Command API: commands written, and the request itself.
    assert moved(*cmd, "ragstream_api_commands_total", command="UpsertDocument", outcome="written") == 3
    assert (
        moved(
            *cmd, "ragstream_http_requests_total", service="command-api", route="/v1/documents", status="202"
        )
        == 1
    )
    assert (
        moved(*cmd, "ragstream_http_request_seconds_count", service="command-api", route="/v1/documents") == 1
    )
    # Stream worker: validation outcome, per-processor latency, embeddings, lag.
    assert moved(*wrk, "ragstream_commands_total", outcome="accepted") == 3
    assert moved(*wrk, "ragstream_processing_seconds_count", processor="validate_commands") == 3
    assert moved(*wrk, "ragstream_processing_seconds_count", processor="embed_bulk_chunks") >= 1
    assert moved(*wrk, "ragstream_embeddings_total", origin="computed") >= 3
    assert moved(*wrk, "ragstream_embedding_batch_size_count") >= 1
    # Query API: freshness per read model, the projection, and the search's stages.
    assert moved(*qry, "ragstream_freshness_seconds_count", read_model="lexical") >= 3
    assert moved(*qry, "ragstream_index_events_total", outcome="applied") >= 3
    assert moved(*qry, "ragstream_query_stage_seconds_count", stage="bm25") >= 1


async def produce_traced(settings: Settings, command: UpsertDocument) -> None:
    encoded = encode_command(load_codec(settings.codec), command)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            catalogue(settings.kafka.topic_prefix).commands.name, value=encoded.value, key=encoded.key,
            headers=[("command_id", command.command_id.encode()), ("traceparent", PARENT.encode())],
        )  # fmt: skip
    finally:
        await producer.stop()


def test_trace_context_crosses_every_processor(observed: Observed) -> None:
    settings = observed.pipeline.settings
    topics = catalogue(settings.kafka.topic_prefix)
    command = UpsertDocument(tenant="default", document_id="traced", actor="test", content="A traced heron.")
    asyncio.run(produce_traced(settings, command))
    key = document_key("default", "traced")

    def headers_on(topic: str) -> list[dict[str, bytes]]:
        records = asyncio.run(read_topic(settings, topic))
        return [dict(m.headers) for _, _, k, m in records if k == key]

    spans = set()
    for topic in (topics.events.name, topics.chunks.name, topics.embeddings.name):
        wait_until(lambda t=topic: bool(headers_on(t)), timeout=60)  # type: ignore[misc]
        (headers,) = headers_on(topic)
        trace = parse_traceparent(headers["traceparent"])
        assert trace is not None and trace.trace_id == PARENT.split("-")[1], topic
        assert headers["command_id"] == command.command_id.encode(), topic
        spans.add(trace.span_id)
    # Each stage is its own span in the one trace.
    assert len(spans) == 3 and "00f067aa0ba902b7" not in spans


def test_status_shows_a_stopped_worker_as_lagging(
    observed: Observed, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = observed.pipeline
    settings = pipeline.settings
    commands_topic = catalogue(settings.kafka.topic_prefix).commands.name
    pipeline.processes["worker-1"].stop()
    post_documents(
        pipeline.command_url, [{"document_id": f"late{i}", "content": f"Late heron {i}."} for i in range(3)]
    )

    def report() -> status_cli.StatusReport:
        return asyncio.run(status_cli.collect_status(settings, query_url=pipeline.query_url))

    wait_until(
        lambda: report().lag is not None and report().lag.by_topic().get(commands_topic, 0) >= 3, timeout=30
    )  # type: ignore[union-attr]
    stopped = report()
    assert stopped.lag is not None and stopped.lag.members == 0
    assert {p.topic for p in stopped.lagging} == {commands_topic}
    assert not stopped.healthy
    assert stopped.query is not None and stopped.query.ready is not None and stopped.query.freshness

    app = typer.Typer()
    app.command()(status_cli.status)
    monkeypatch.setattr(status_cli, "get_settings", lambda: settings)
    result = CliRunner().invoke(app, ["--query-url", pipeline.query_url], env={"COLUMNS": "160"})
    assert result.exit_code == 1, result.output
    assert "LAGGING" in result.output and commands_topic in result.output
    assert f"consumer group {settings.streams.app_id}: Empty, 0 member(s)" in result.output

    # A worker back in the group works the backlog off, and the status says so.
    pipeline.start_worker("worker-2")
    wait_until(lambda: not report().lagging, timeout=120)
    result = CliRunner().invoke(app, ["--query-url", pipeline.query_url], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "LAGGING" not in result.output
