"""A fresh, isolated pipeline on the local stack for one benchmark run, and what it exposes."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ragstream.bench.corpus import ACTOR, TENANT
from ragstream.bench.eval.driver import send_commands_sync, token_of, wait_for_token
from ragstream.bench.topic import chunks_in_topic
from ragstream.codec import load_codec
from ragstream.contracts import UpsertDocument
from ragstream.local.pipeline import LocalPipeline, discard_isolated, drop_schemas, isolated_env, schema_of
from ragstream.local.processes import free_port
from ragstream.settings import PROJECT_ROOT, get_settings
from ragstream.topics import catalogue

STATE_ROOT = PROJECT_ROOT / ".stack" / "bench"
WAIT_TIMEOUT_S = 3600.0


@contextmanager
def _cleaned_up(
    pipeline: LocalPipeline,
    state_dir: Path,
    *,
    keep: bool = False,
    tag: str | None = None,
    schema: str | None = None,
) -> Iterator[LocalPipeline]:
    """Stops the pipeline's processes at the end (their logs printed if anything failed) and removes
    its state unless `keep`: its folders, its topics and schema where it is pipeline `tag`, and
    `schema`, a schema of its own on another pipeline's topics."""
    try:
        yield pipeline
    except Exception:
        for process in pipeline.processes.values():
            print(f"--- {process.name} log ---\n{process.log_tail(30)}")
        raise
    finally:
        pipeline.stop()
        if not keep:
            shutil.rmtree(state_dir, ignore_errors=True)
            if tag is not None:
                _discard(tag)
            if schema is not None:
                _drop(schema)


@contextmanager
def discarded_after(tag: str) -> Iterator[None]:
    """Removes the topics and schema of pipeline `tag`, which the caller created, at the end."""
    try:
        yield
    finally:
        _discard(tag)


def _discard(tag: str) -> None:
    try:
        asyncio.run(discard_isolated(get_settings(), tag))
    except Exception as exc:  # a result is still a result; the stack is only left fuller
        print(f"could not remove the topics and schema of {tag}: {exc}", file=sys.stderr)


def _drop(schema: str) -> None:
    try:
        asyncio.run(drop_schemas(get_settings(), schema))
    except Exception as exc:  # as in _discard
        print(f"could not remove schema {schema}: {exc}", file=sys.stderr)


@contextmanager
def fresh_pipeline(
    name: str, *, workers: int = 1, keep: bool = False, env: Mapping[str, str] | None = None
) -> Iterator[BenchPipeline]:
    """Stream worker(s) and query API on new topics, consumer group, schema and data folders
    (`env`: more settings for them)."""
    tag = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    state_dir = STATE_ROOT / tag
    pipeline = LocalPipeline(isolated_env(tag, state_dir, **(env or {})), state_dir / "logs")
    with _cleaned_up(pipeline, state_dir, keep=keep, tag=tag):
        running = BenchPipeline(pipeline)
        running.start(workers)
        yield running


@contextmanager
def query_api_on(
    prefix: str, name: str, *, probe: Callable[[LocalPipeline], None] | None = None
) -> Iterator[tuple[LocalPipeline, int]]:
    """A query API (no stream worker) on pipeline `prefix`'s embeddings topic, once its live
    generation holds the whole topic and has built its HNSW graph; yields it and the chunk count.
    `probe` is called with it every half second, from another thread, from the moment it holds the
    whole topic until the graph is built (the build starts once the feed has been idle a few
    seconds): a build that holds the node holds a probe too, for as long as it does."""
    state_dir = STATE_ROOT / f"{prefix}-{name}"
    # Its own PostgreSQL schema (registry, query log), never pipeline `prefix`'s: that pipeline
    # may be the caller's (`bench rebuild --prefix`), whose tables a bench must not write into.
    schema = schema_of(f"{prefix}-{name}")
    env = isolated_env(prefix, state_dir, RAGSTREAM_POSTGRES__SCHEMA_NAME=schema)
    with _cleaned_up(LocalPipeline(env, state_dir / "logs"), state_dir, schema=schema) as pipeline:
        pipeline.create_topics()  # idempotent: the embeddings topic is there already
        pipeline.start_query_api()
        settings = pipeline.settings
        topic = catalogue(prefix).embeddings.name
        chunks = asyncio.run(chunks_in_topic(settings.kafka, topic, load_codec(settings.codec)))
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        built = threading.Event()
        prober: threading.Thread | None = None
        try:
            # The feed builds the HNSW graph once idle (for 1,000 points or more); wait for it too, so
            # it neither shares the cores with what is measured next nor leaves searches scanning.
            while True:
                # {} while the node does not answer (see get_json) or is not ready yet.
                status = pipeline.node_status()
                if status.get("chunks", 0) >= chunks:
                    if status.get("vector_index_optimizing") is False:
                        break
                    if probe is not None and prober is None:
                        prober = threading.Thread(target=_probing, args=(probe, pipeline, built))
                        prober.start()
                _before(deadline, "the live generation to catch up and build its HNSW graph")
                time.sleep(0.5)
        finally:
            built.set()
            if prober is not None:
                prober.join()
        yield pipeline, chunks


def _probing(probe: Callable[[LocalPipeline], None], pipeline: LocalPipeline, done: threading.Event) -> None:
    while not done.is_set():
        probe(pipeline)
        done.wait(0.5)


def get_json(url: str, deadline: float) -> dict[str, Any]:
    """GET a JSON body, waiting out a process that does not answer: qdrant-edge holds the GIL while
    it builds an HNSW graph or opens a vector index, and a query API answered nothing for the whole
    of a build before the live feed built its graphs in a child process (BENCHMARKS.md)."""
    while True:
        try:
            body: dict[str, Any] = httpx.get(url, timeout=60).json()
            return body
        except httpx.TimeoutException:
            _before(deadline, f"{url} to answer")


def _before(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"gave up waiting for {what}")


class BenchPipeline:
    def __init__(self, pipeline: LocalPipeline) -> None:
        self.pipeline = pipeline
        self.worker_ports: list[int] = []

    def start(self, workers: int) -> None:
        self.pipeline.create_topics()
        for i in range(workers):
            port = free_port()
            self.pipeline.start_worker(f"worker-{i + 1}", web_port=port)
            self.worker_ports.append(port)
        self.pipeline.start_query_api()

    def process_names(self) -> Mapping[int, str]:
        return {p.pid: name for name, p in self.pipeline.processes.items()}

    def ingest(self, commands: list[UpsertDocument]) -> float:
        """Writes the commands and waits until all are searchable; returns the seconds it took."""
        started = time.perf_counter()
        positions = send_commands_sync(self.pipeline.settings, commands)
        wait_for_token(self.pipeline, token_of(positions), timeout_s=WAIT_TIMEOUT_S)
        return time.perf_counter() - started

    def warm_up(self) -> None:
        """One small document end to end: loads the model and opens every connection before timing."""
        doc = UpsertDocument(
            tenant=TENANT,
            document_id=f"warmup/{uuid.uuid4().hex}",
            actor=ACTOR,
            title="warm-up",
            content="Warm-up document. It makes every stage load its model and connections first.",
        )
        self.ingest([doc])

    def ready(self) -> dict[str, int]:
        data = self.pipeline.node_status()
        return {"documents": int(data["documents"]), "chunks": int(data["chunks"])}

    def worker_metrics(self) -> dict[str, float]:
        """Summed samples of the workers' Prometheus metrics (name with labels -> value); {} if any
        worker's page is unavailable."""
        totals: dict[str, float] = {}
        for port in self.worker_ports:
            response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            if response.status_code != 200:
                # Optional diagnostics: a broken metrics page must not fail the benchmark.
                return {}
            for family in text_string_to_metric_families(response.text):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    key = f"{sample.name}{{{labels}}}" if labels else sample.name
                    totals[key] = totals.get(key, 0.0) + float(sample.value)
        return totals
