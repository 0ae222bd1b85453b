"""`ragstream stack up|down|status` on a second, private stack (own ports and folder)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from ragstream.local import stack
from ragstream.local.processes import free_port
from ragstream.settings import KafkaSettings, PostgresSettings, Settings, StackSettings
from tests.integration.helpers import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_is_idempotent_and_down_leaves_nothing_running(tmp_path: Path) -> None:
    ports = StackSettings(
        dir=tmp_path / "stack",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_sasl_port=free_port(),
        postgres_port=free_port(),
        schema_registry_port=free_port(),
    )
    settings = Settings(stack=ports, postgres=PostgresSettings(port=ports.postgres_port))
    try:
        stack.up(settings)
        first = {s.name: s.detail for s in stack.status(settings)}
        assert set(first) == {"kafka", "postgres", "schema-registry"}
        assert all(s.running for s in stack.status(settings))
        assert port_open(ports.kafka_port) and port_open(ports.postgres_port)
        registry = httpx.get(f"http://127.0.0.1:{ports.schema_registry_port}/config", timeout=10)
        assert registry.json() == {"compatibilityLevel": "BACKWARD"}

        again = stack.up(settings)  # harmless: nothing restarts
        assert any("already running" in line for line in again)
        assert {s.name: s.detail for s in stack.status(settings)} == first
    finally:
        stack.down(settings)
    assert not any(s.running for s in stack.status(settings))
    assert not port_open(ports.kafka_port) and not port_open(ports.postgres_port)
    assert not port_open(ports.schema_registry_port)
    assert not (ports.dir / "kafka" / "kafka.pid").exists()


async def _produce(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"survives a restart", key=b"k")
    finally:
        await producer.stop()


def test_restart_keeps_kafka_data(tmp_path: Path) -> None:
    ports = StackSettings(
        dir=tmp_path / "stack",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_sasl_port=free_port(),
        postgres_port=free_port(),
    )
    settings = Settings(
        stack=ports,
        postgres=PostgresSettings(port=ports.postgres_port),
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{ports.kafka_port}"),
    )
    try:
        stack.up(settings, services=("kafka",))
        asyncio.run(_produce(settings.kafka.bootstrap_servers, "restart-check"))
        stack.down(settings, services=("kafka",))
        stack.up(settings, services=("kafka",))
        records = asyncio.run(read_topic(settings, "restart-check", timeout=20))
        assert [m.value for *_, m in records] == [b"survives a restart"]
    finally:
        stack.down(settings, services=("kafka",))
