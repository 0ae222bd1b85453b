"""Small clients for integration tests: the real APIs and the real broker, no stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from ragstream import kafka
from ragstream.auth.keys import create_key
from ragstream.codec import Decoded, load_codec
from ragstream.contracts import WritePosition, consistency_token
from ragstream.local.pipeline import LocalPipeline, isolated_env
from ragstream.settings import Settings


def post_documents(base: str, docs: list[dict[str, Any]], *, tenant: str = "default") -> list[dict[str, Any]]:
    body: dict[str, Any] = {"documents": docs} if len(docs) > 1 else docs[0]
    response = httpx.post(f"{base}/v1/documents", json=body, headers={"X-Tenant": tenant}, timeout=30)
    assert response.status_code == 202, response.text
    commands: list[dict[str, Any]] = response.json()["commands"]
    return commands


def token_of(commands: list[dict[str, Any]]) -> str:
    """Merge the positions of several writes into one consistency token."""
    return consistency_token(WritePosition.model_validate(c["position"]) for c in commands)


def search(
    base: str,
    query: str,
    *,
    tenant: str = "default",
    principals: str = "",
    token: str | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    body = {"query": query, "consistency_token": token, **options}
    response = httpx.post(
        f"{base}/v1/search", json=body, headers={"X-Tenant": tenant, "X-Principals": principals}, timeout=60
    )
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def wait_until(predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


async def read_topic(
    settings: Settings, topic: str, *, timeout: float = 5.0
) -> list[tuple[int, int, bytes | None, Any]]:
    """Every record of a topic (partition, offset, key, raw value), read from the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, group_id=None, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        metadata = await consumer._client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[tuple[int, int, bytes | None, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind():
            batches = await consumer.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                out.extend((tp.partition, m.offset, m.key, m) for m in messages)
            if asyncio.get_running_loop().time() > deadline:
                break
        return out
    finally:
        await consumer.stop()


def decoded_records(settings: Settings, topic: str) -> list[tuple[int, int, bytes | None, Decoded]]:
    codec = load_codec(settings.codec)
    raw = asyncio.run(read_topic(settings, topic))
    return [(p, o, k, codec.decode(m.value)) for p, o, k, m in raw]


@contextlib.contextmanager
def logs_on_failure(pipeline: LocalPipeline) -> Iterator[LocalPipeline]:
    """Stops the pipeline's processes at the end; prints their logs if setting up or a test failed."""
    try:
        yield pipeline
    except Exception:
        for proc in pipeline.processes.values():
            print(f"--- {proc.name} log ---\n{proc.log_tail(80)}")
        raise
    finally:
        pipeline.stop()


def wait_for_token(query_url: str, token: str, timeout_s: float = 240) -> None:
    """Read-your-writes: poll a query API with a consistency token until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.post(
            f"{query_url}/v1/search", json={"query": "x", "consistency_token": token}, timeout=30
        )
        if response.status_code == 200:
            return
        assert response.status_code == 504 and time.monotonic() < deadline, response.text


@contextlib.contextmanager
def secured_pipeline(
    tag: str,
    work: Path,
    grants: dict[str, tuple[str, list[str]]],
    *,
    workers: int = 0,
    principals: dict[str, list[str]] | None = None,
    **env: str,
) -> Iterator[tuple[LocalPipeline, dict[str, str]]]:
    """The command and query APIs with authentication on (and `workers` stream workers, none by
    default), and an API key per grant (name -> (tenant, scopes), with `principals` by name); `env`
    adds settings."""
    keys_file = work / "api-keys.json"
    keys = {
        name: create_key(
            keys_file, name=name, tenant=tenant, principals=(principals or {}).get(name, []), scopes=scopes
        )
        for name, (tenant, scopes) in grants.items()
    }
    settings = isolated_env(
        tag, work, RAGSTREAM_AUTH__ENABLED="true", RAGSTREAM_AUTH__API_KEYS_FILE=str(keys_file), **env
    )
    with logs_on_failure(LocalPipeline(settings, work / "logs", workers=workers)) as pipeline:
        pipeline.start()
        yield pipeline, keys


def delete_topics(settings: Settings, *prefixes: str) -> None:
    """Delete the broker's topics whose names start with any of `prefixes`."""
    asyncio.run(kafka.delete_topics(settings.kafka, *prefixes))
