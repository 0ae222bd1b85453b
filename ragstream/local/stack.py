"""Drives the local stack scripts in deploy/local/ with the current settings."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from ragstream.exceptions import RagstreamError
from ragstream.settings import PROJECT_ROOT, Settings

SCRIPTS = PROJECT_ROOT / "deploy" / "local"
# The schema registry keeps its schemas in PostgreSQL, so it starts after it.
SERVICES = ("kafka", "postgres", "schema-registry")
# Kafka Connect with Debezium is optional: `ragstream stack up --with-connect`.
OPTIONAL_SERVICES = ("connect", "opensearch")


class StackError(RagstreamError):
    """A local stack service failed to start or stop."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    detail: str


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    st = settings.stack
    env.update(
        RAGSTREAM_STACK__DIR=str(st.dir),
        RAGSTREAM_STACK__KAFKA_VERSION=st.kafka_version,
        RAGSTREAM_STACK__KAFKA_PORT=str(st.kafka_port),
        RAGSTREAM_STACK__KAFKA_CONTROLLER_PORT=str(st.kafka_controller_port),
        RAGSTREAM_STACK__KAFKA_SASL_PORT=str(st.kafka_sasl_port),
        RAGSTREAM_STACK__KAFKA_SASL_PASSWORD=st.kafka_sasl_password.get_secret_value(),
        RAGSTREAM_STACK__POSTGRES_PORT=str(st.postgres_port),
        RAGSTREAM_STACK__CONNECT_PORT=str(st.connect_port),
        RAGSTREAM_STACK__OPENSEARCH_PORT=str(st.opensearch_port),
        RAGSTREAM_STACK__SCHEMA_REGISTRY_PORT=str(st.schema_registry_port),
        # The registry is ragstream's own server: run by this interpreter, with this checkout's code.
        RAGSTREAM_LOCAL_PYTHON=sys.executable,
        RAGSTREAM_STACK__POSTGRES_USER=settings.postgres.user,
        RAGSTREAM_STACK__POSTGRES_DB=settings.postgres.database,
    )
    return env


def run_script(settings: Settings, service: str, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / f"{service}.sh"), action],
        env=_env(settings),
        text=True,
        capture_output=True,
        check=False,
    )


def up(settings: Settings, services: tuple[str, ...] = SERVICES) -> list[str]:
    """Start each service unless it runs already; returns the scripts' progress lines."""
    lines = []
    for service in services:
        result = run_script(settings, service, "start")
        lines.extend(result.stderr.splitlines())
        if result.returncode != 0:
            raise StackError(f"{service} failed to start:\n{result.stderr.strip()}")
    return lines


def down(settings: Settings, services: tuple[str, ...] = SERVICES) -> list[str]:
    lines = []
    for service in reversed(services):
        lines.extend(run_script(settings, service, "stop").stderr.splitlines())
    return lines


def status(settings: Settings, services: tuple[str, ...] = SERVICES) -> list[ServiceStatus]:
    out = []
    for service in services:
        result = run_script(settings, service, "status")
        out.append(ServiceStatus(service, result.returncode == 0, result.stdout.strip()))
    return out
