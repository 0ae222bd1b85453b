"""Faults on a private stack (own Kafka and PostgreSQL, so nothing else is disturbed): the database
goes away for a while, the broker restarts, workers are SIGKILLed at random points. Afterwards the
read models hold exactly the expected documents and versions."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragstream.local import stack
from ragstream.local.pipeline import LocalPipeline, isolated_env
from ragstream.local.processes import free_port
from ragstream.settings import CodecSettings, KafkaSettings, PostgresSettings, Settings, StackSettings
from tests.integration.helpers import post_documents, search, token_of, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, LocalPipeline]]:
    base = Path(tmp_path_factory.mktemp("faults"))
    ports = StackSettings(dir=base / "stack", kafka_port=free_port(), kafka_controller_port=free_port(),
                          kafka_sasl_port=free_port(), postgres_port=free_port(),
                          schema_registry_port=free_port())  # fmt: skip
    settings = Settings(
        stack=ports,
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{ports.kafka_port}"),
        postgres=PostgresSettings(port=ports.postgres_port),
        codec=CodecSettings(registry_url=f"http://127.0.0.1:{ports.schema_registry_port}"),
    )
    env = isolated_env(
        "faults", base,
        RAGSTREAM_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        RAGSTREAM_POSTGRES__PORT=str(ports.postgres_port),
        RAGSTREAM_CODEC__REGISTRY_URL=settings.codec.registry_url,
    )  # fmt: skip
    pipeline = LocalPipeline(env, base / "logs")
    try:
        stack.up(settings)
        pipeline.start()
        yield settings, pipeline
    finally:
        pipeline.stop()
        stack.down(settings)


def wait_for_token(pipeline: LocalPipeline, token: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.post(f"{pipeline.query_url}/v1/search", json={"query": "x", "consistency_token": token},
                                  timeout=30)  # fmt: skip
        except httpx.HTTPError:
            time.sleep(1)
            continue
        if response.status_code == 200:
            return
        assert response.status_code == 504, response.text
    raise AssertionError("the pipeline did not catch up")


def docs(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {"document_id": f"{prefix}-{i}", "content": f"{prefix}marker{i} text about fault number {i}"}
        for i in range(n)
    ]


def _registry_version(pipeline: LocalPipeline, document_id: str) -> int | None:
    response = httpx.get(f"{pipeline.query_url}/v1/documents/{document_id}", timeout=30)
    if response.status_code != 200 or response.json()["status"] != "active":
        return None
    version: int = response.json()["version"]
    return version


def assert_exactly(pipeline: LocalPipeline, expected: dict[str, int]) -> None:
    for document_id, version in expected.items():
        marker = document_id.replace("-", "marker")
        hits = search(
            pipeline.query_url, marker, mode="bm25", limit=20, filters={"document_ids": [document_id]}
        )
        assert [(h["document_id"], h["version"]) for h in hits] == [(document_id, version)], document_id
        # The registry is its own projection: after an outage it may trail the indexes by a retry or two.
        wait_until(lambda d=document_id, v=version: _registry_version(pipeline, d) == v, timeout=60)  # type: ignore[misc]


def test_database_outage_is_ridden_out_with_backpressure(private: tuple[Settings, LocalPipeline]) -> None:
    settings, pipeline = private
    wait_for_token(pipeline, token_of(post_documents(pipeline.command_url, docs("pga", 4))))
    stack.run_script(settings, "postgres", "stop")
    try:
        written = post_documents(pipeline.command_url, docs("pgb", 4))  # Kafka still takes writes
        time.sleep(6)  # processors hit the dead database and back off
    finally:
        stack.run_script(settings, "postgres", "start")
    wait_for_token(pipeline, token_of(written))
    assert_exactly(pipeline, {f"pga-{i}": 1 for i in range(4)} | {f"pgb-{i}": 1 for i in range(4)})


def test_broker_restart_loses_nothing(private: tuple[Settings, LocalPipeline]) -> None:
    settings, pipeline = private
    written = post_documents(pipeline.command_url, docs("brk", 5))
    stack.run_script(settings, "kafka", "stop")
    time.sleep(2)
    stack.run_script(settings, "kafka", "start")
    wait_for_token(pipeline, token_of(written))
    assert_exactly(pipeline, {f"brk-{i}": 1 for i in range(5)})


def test_workers_killed_at_random_points_leave_exact_read_models(
    private: tuple[Settings, LocalPipeline],
) -> None:
    _, pipeline = private
    rng = random.Random(7)
    expected: dict[str, int] = {}
    written: list[dict[str, Any]] = []
    for round_ in range(3):
        batch = docs(f"k{round_}", 4)
        # Every round also updates one document of the previous round: versions must end up right.
        if round_:
            batch.append(
                {"document_id": f"k{round_ - 1}-0", "content": f"k{round_ - 1}marker0 updated in {round_}"}
            )
            expected[f"k{round_ - 1}-0"] = 2
        written += post_documents(pipeline.command_url, batch)
        expected.update({f"k{round_}-{i}": 1 for i in range(4)})
        time.sleep(rng.uniform(0.0, 3.0))
        victim = next(name for name in reversed(pipeline.processes) if name.startswith("worker"))
        pipeline.processes[victim].kill()
        pipeline.start_worker(f"worker-r{round_}")
    wait_for_token(pipeline, token_of(written))
    assert_exactly(pipeline, expected)
