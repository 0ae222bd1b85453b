"""The whole pipeline on one machine: stream workers, command API and query API as child processes,
isolated by topic prefix, consumer group, database schema and data folders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from ragstream.kafka import create_topics, delete_topics
from ragstream.local.processes import ManagedProcess, free_port, spawn, wait_ready
from ragstream.settings import Settings
from ragstream.topics import catalogue


def isolated_env(tag: str, base_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for processes that share the local stack but nothing else."""
    safe = schema_of(tag)
    env = {
        "RAGSTREAM_KAFKA__TOPIC_PREFIX": tag,
        "RAGSTREAM_STREAMS__APP_ID": tag,
        "RAGSTREAM_STREAMS__DATA_DIR": str(base_dir / "faust"),
        "RAGSTREAM_STREAMS__WEB_PORT": str(free_port()),
        "RAGSTREAM_POSTGRES__SCHEMA_NAME": safe,
        "RAGSTREAM_INDEX__DATA_DIR": str(base_dir / "readmodels"),
        "RAGSTREAM_BLOBS__DIR": str(base_dir / "blobs"),
        "RAGSTREAM_API__COMMAND_PORT": str(free_port()),
        "RAGSTREAM_API__QUERY_PORT": str(free_port()),
        # The local dev profile: callers are trusted to name their tenant and principals in headers,
        # and no rate limit or quota applies (a test that checks them turns them on).
        "RAGSTREAM_AUTH__ENABLED": "false",
        "RAGSTREAM_LIMITS__ENABLED": "false",
    }
    env.update(extra)
    return env


def schema_of(tag: str) -> str:
    """The PostgreSQL schema of an isolated pipeline."""
    return tag.replace("-", "_")


def topic_prefixes(tag: str) -> tuple[str, ...]:
    """What the names of an isolated pipeline's topics start with: its own, its faust app's (the app
    id is the tag), a CDC source's heartbeats."""
    return f"{tag}.", f"{tag}-", f"__debezium-heartbeat.{tag}"


async def discard_isolated(settings: Settings, tag: str) -> None:
    """Remove what an isolated pipeline left on the shared stack: its topics and its schema (its
    folders are the caller's). Left there, each run's topics stayed on the broker for good."""
    await delete_topics(settings.kafka, *topic_prefixes(tag))
    await drop_schemas(settings, schema_of(tag))


async def drop_schemas(settings: Settings, *schemas: str) -> None:
    connection = await asyncpg.connect(settings.postgres.dsn(), timeout=30)
    try:
        for schema in schemas:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def settings_from_env(env: dict[str, str]) -> Settings:
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, env):
        return Settings()


@dataclass
class LocalPipeline:
    env: dict[str, str]
    log_dir: Path
    workers: int = 1
    worker_loglevel: str = "WARNING"
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    # Extra query API processes by name -> URL (start_query_replica).
    query_replicas: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return settings_from_env(self.env)

    @property
    def command_url(self) -> str:
        return f"http://127.0.0.1:{self.env['RAGSTREAM_API__COMMAND_PORT']}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.env['RAGSTREAM_API__QUERY_PORT']}"

    def node_status(self, url: str | None = None) -> dict[str, Any]:
        """A query node's live generation, documents and chunks (the operator's /v1/admin/status; the
        dev profile needs no credentials); {} while the node is not ready."""
        base = url or self.query_url
        try:
            if httpx.get(f"{base}/ready", timeout=10).status_code != 200:
                return {}
            response = httpx.get(f"{base}/v1/admin/status", timeout=30)
        except httpx.HTTPError:
            return {}
        data: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return data

    def create_topics(self) -> None:
        settings = self.settings
        asyncio.run(create_topics(settings.kafka, catalogue(settings.kafka.topic_prefix).all()))

    def start_worker(self, name: str = "worker-1", web_port: int | None = None) -> ManagedProcess:
        env = dict(self.env, RAGSTREAM_STREAMS__WEB_PORT=str(web_port or free_port()))
        proc = spawn(name, ["streams", "run", "--loglevel", self.worker_loglevel], env, self.log_dir)
        self.processes[name] = proc
        wait_ready(proc, f"http://127.0.0.1:{env['RAGSTREAM_STREAMS__WEB_PORT']}/health")
        return proc

    def start_command_api(self) -> ManagedProcess:
        proc = spawn("command-api", ["serve", "commands"], self.env, self.log_dir)
        self.processes["command-api"] = proc
        wait_ready(proc, f"{self.command_url}/ready")
        return proc

    def start_query_api(self) -> ManagedProcess:
        proc = spawn("query-api", ["serve", "queries"], self.env, self.log_dir)
        self.processes["query-api"] = proc
        wait_ready(proc, f"{self.query_url}/ready")
        return proc

    def start_query_replica(self, name: str) -> str:
        """Another query API process with its own port and its own copy of the embedded read
        models, as a second replica behind a load balancer would run; returns its URL."""
        port = free_port()
        env = dict(
            self.env,
            RAGSTREAM_API__QUERY_PORT=str(port),
            RAGSTREAM_INDEX__DATA_DIR=f"{self.env['RAGSTREAM_INDEX__DATA_DIR']}-{name}",
        )
        proc = spawn(name, ["serve", "queries"], env, self.log_dir)
        self.processes[name] = proc
        url = f"http://127.0.0.1:{port}"
        wait_ready(proc, f"{url}/ready")
        self.query_replicas[name] = url
        return url

    def start(self, *, command_api: bool = True, query_api: bool = True) -> LocalPipeline:
        self.create_topics()
        for i in range(self.workers):
            self.start_worker(f"worker-{i + 1}")
        if command_api:
            self.start_command_api()
        if query_api:
            self.start_query_api()
        return self

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            proc.stop()
        self.processes.clear()
