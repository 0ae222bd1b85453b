"""Limits against the real services with authentication on: huge bodies are cut off before they are
buffered (checked on the service's memory), bogus consistency tokens are refused at once, and rate
limits and the daily write quota (shared by command API replicas through PostgreSQL) answer 429."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from ragstream.kafka import topic_names
from ragstream.local.pipeline import LocalPipeline
from ragstream.local.processes import ManagedProcess, free_port, spawn, wait_ready
from ragstream.queries.consistency import CommandLogBounds
from ragstream.queries.exceptions import InvalidConsistencyToken
from ragstream.settings import Settings
from ragstream.topics import catalogue
from tests.conftest import unique_tag
from tests.integration.helpers import secured_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUOTA = 64 * 1024
MB = 1024 * 1024


@dataclass
class Limited:
    pipeline: LocalPipeline
    keys: dict[str, str]
    second_command_api: str


@pytest.fixture(scope="module")
def limited(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    tag = unique_tag("lim")
    work = Path(tmp_path_factory.mktemp(tag))
    grants = {"read": ("acme", ["read"]), "burst": ("acme", ["read"]), "write": ("acme", ["write"]),
              "quota": ("quota-t", ["write"]), "files": ("files-t", ["write"])}  # fmt: skip
    with secured_pipeline(
        tag, work, grants, RAGSTREAM_LIMITS__ENABLED="true",
        RAGSTREAM_LIMITS__QUERIES_PER_KEY__PER_S="2", RAGSTREAM_LIMITS__QUERIES_PER_KEY__BURST="10",
        RAGSTREAM_LIMITS__QUERIES_PER_TENANT__PER_S="1000", RAGSTREAM_LIMITS__QUERIES_PER_TENANT__BURST="1000",
        RAGSTREAM_LIMITS__COMMANDS_PER_KEY__PER_S="1000", RAGSTREAM_LIMITS__COMMANDS_PER_KEY__BURST="1000",
        RAGSTREAM_LIMITS__WRITE_BYTES_PER_DAY=str(QUOTA),
        RAGSTREAM_API__MAX_QUERY_BODY_BYTES=str(64 * 1024), RAGSTREAM_API__MAX_COMMAND_BODY_BYTES=str(MB),
    ) as (pipeline, keys):  # fmt: skip
        # A second command API replica: the daily quota must hold across both.
        port = free_port()
        env = {**pipeline.env, "RAGSTREAM_API__COMMAND_PORT": str(port)}
        replica = spawn("command-api-2", ["serve", "commands"], env, work / "logs")
        pipeline.processes["command-api-2"] = replica
        wait_ready(replica, f"http://127.0.0.1:{port}/ready")
        yield Limited(pipeline, keys, f"http://127.0.0.1:{port}")


def rss_mb(process: ManagedProcess) -> float:
    return float(psutil.Process(process.pid).memory_info().rss) / MB


def chunked_post(url: str, path: str, headers: dict[str, str], total: int) -> tuple[int, int]:
    """POSTs up to `total` bytes as a chunked body, stopping as soon as the server answers or closes;
    returns (status, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    chunk = b"x" * (256 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"1\r\n{\r\n")
        sock.setblocking(False)
        answer = b""
        while sent < total:
            try:
                answer += sock.recv(65536)
                break  # the server answered before the body was done
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                sent += sock.send(framed)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break  # closed by the server
        sock.setblocking(True)
        sock.settimeout(30)
        try:
            while b"\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0
    return status, sent


@pytest.mark.parametrize(
    ("api", "path", "key", "status"),
    [("query-api", "/v1/search", None, 401), ("query-api", "/v1/search", "read", 413),
     ("command-api", "/v1/documents", None, 401), ("command-api", "/v1/documents", "write", 413)],
)  # fmt: skip
def test_a_huge_chunked_body_is_cut_off_without_growing_the_service(
    limited: Limited, api: str, path: str, key: str | None, status: int
) -> None:
    process = limited.pipeline.processes[api]
    url = limited.pipeline.query_url if api == "query-api" else limited.pipeline.command_url
    before = rss_mb(process)
    headers = {"X-API-Key": limited.keys[key]} if key else {}
    got, sent = chunked_post(url, path, headers, total=200 * MB)
    assert got == status
    assert sent < 50 * MB  # the server answered long before 200 MB were through
    assert rss_mb(process) - before < 40  # and never held the body: 200 MB grew it by ~200 MB before


def endless_head(url: str, total: int) -> tuple[int, int]:
    """Sends a request line, then header lines, 8 KiB at a time, until `total` bytes or until the
    server answers or closes; returns (status, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    lines = (b"X-Filler: " + b"y" * 1014 + b"\r\n") * 8
    sent = 0
    answer = b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"GET /v1/documents/a HTTP/1.1\r\nHost: {host}\r\n".encode())
        while sent < total and not answer:
            try:
                sock.sendall(lines)
                sent += len(lines)
                if select.select([sock], [], [], 0.005)[0]:
                    answer = sock.recv(65536)
            except OSError:
                break  # closed by the server
        try:
            while b"\r\n" not in answer and (data := sock.recv(65536)):
                answer += data
        except OSError:
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0
    return status, sent


@pytest.mark.parametrize("api", ["query-api", "command-api"])
def test_an_endless_request_head_is_refused_without_growing_the_service(limited: Limited, api: str) -> None:
    # Headers are read before authentication can say anything: the HTTP parser's own limit on a
    # request's head is what stops them (ragstream.cli.serve keeps uvicorn on h11 for it).
    process = limited.pipeline.processes[api]
    url = limited.pipeline.query_url if api == "query-api" else limited.pipeline.command_url
    before = rss_mb(process)
    got, sent = endless_head(url, total=16 * MB)
    assert got in (400, 431)
    assert sent < MB
    assert rss_mb(process) - before < 20
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_a_content_length_over_the_limit_is_refused_before_authentication(limited: Limited) -> None:
    response = httpx.post(
        f"{limited.pipeline.query_url}/v1/search",
        content=b"x" * (65 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["type"].endswith("/body-too-large")


def test_bogus_consistency_tokens_are_refused_at_once(limited: Limited) -> None:
    headers = {"X-API-Key": limited.keys["read"]}
    for token in ("999:1", "0:99999999", "0:0", "-1:2", "0:x"):
        started = time.monotonic()
        response = httpx.post(f"{limited.pipeline.query_url}/v1/search", json={"query": "x", "consistency_token": token},
                              headers=headers, timeout=30)  # fmt: skip
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("/bad-request")
        assert time.monotonic() - started < 2


def test_token_bounds_come_from_the_broker_with_one_fetch_for_many_callers(limited: Limited) -> None:
    settings = limited.pipeline.settings
    topic = catalogue(settings.kafka.topic_prefix).commands.name

    response = httpx.post(f"{limited.pipeline.command_url}/v1/documents", json={"document_id": "b", "content": "x"},
                          headers={"X-API-Key": limited.keys["write"]})  # fmt: skip
    assert response.status_code == 202, response.text
    written = response.json()["commands"][0]["position"]

    async def run() -> None:
        bounds = CommandLogBounds(settings.kafka, topic, ttl_s=60)
        await bounds.start()
        try:
            await bounds.check({written["partition"]: written["offset"]})  # a fresh write is in bounds
            results = await asyncio.gather(
                *(bounds.check({written["partition"]: written["offset"] + 1000}) for _ in range(100)),
                return_exceptions=True,
            )
            assert all(isinstance(r, InvalidConsistencyToken) for r in results)
            # 100 bogus tokens at once: the broker is asked once or twice, not 100 times.
            assert bounds.fetches <= 3
        finally:
            await bounds.stop()

    asyncio.run(run())


def test_a_token_for_a_commands_topic_that_does_not_exist_is_refused_and_creates_nothing(
    limited: Limited,
) -> None:
    # The broker auto-creates topics (deploy/local/kafka.sh): a check that asked for the topic the
    # way a subscription does would create it with the broker's default partitions.
    settings = limited.pipeline.settings
    missing = f"{unique_tag('gone')}.document-commands"

    async def run() -> set[str]:
        bounds = CommandLogBounds(settings.kafka, missing, ttl_s=60)
        await bounds.start()
        try:
            with pytest.raises(InvalidConsistencyToken, match="partition 0 does not exist"):
                await bounds.check({0: 0})
        finally:
            await bounds.stop()
        # Auto-creation is asynchronous on the broker: give it time to show.
        await asyncio.sleep(2)
        return await topic_names(settings.kafka)

    assert missing not in asyncio.run(run())


def test_queries_over_the_rate_limit_get_429_with_retry_after(limited: Limited) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=limited.pipeline.query_url, timeout=60) as client:
            headers = {"X-API-Key": limited.keys["burst"]}
            # At once: the bucket (burst 10, 2/s) is drawn when each request arrives.
            return await asyncio.gather(
                *(client.get("/v1/documents/nothing", headers=headers) for _ in range(30))
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert 10 <= statuses.count(404) < 30 and statuses.count(429) == 30 - statuses.count(404)
    limited_response = next(r for r in responses if r.status_code == 429)
    assert limited_response.json()["type"].endswith("/rate-limited")
    assert int(limited_response.headers["retry-after"]) == limited_response.json()["retry_after_s"] >= 1
    # Another key of the same tenant has its own bucket.
    other = httpx.post(
        f"{limited.pipeline.query_url}/v1/search",
        json={"query": "x"},
        headers={"X-API-Key": limited.keys["read"]},
    )
    assert other.status_code == 200


def test_the_daily_write_quota_holds_across_command_api_replicas(limited: Limited) -> None:
    headers = {"X-API-Key": limited.keys["quota"]}

    def write(base: str, i: int) -> httpx.Response:
        body = {"document_id": f"q{i}", "content": "y" * (QUOTA // 3)}
        return httpx.post(f"{base}/v1/documents", json=body, headers=headers, timeout=30)

    assert write(limited.pipeline.command_url, 1).status_code == 202
    assert write(limited.second_command_api, 2).status_code == 202
    over = write(limited.pipeline.command_url, 3)  # the third third, plus JSON: over the quota
    assert over.status_code == 429 and over.json()["type"].endswith("/quota-exceeded")
    assert 0 < int(over.headers["retry-after"]) <= 86400
    assert write(limited.second_command_api, 4).status_code == 429
    # Another tenant's quota is untouched.
    other = httpx.post(f"{limited.pipeline.command_url}/v1/documents", json={"document_id": "o", "content": "z"},
                       headers={"X-API-Key": limited.keys["write"]})  # fmt: skip
    assert other.status_code == 202


def test_file_uploads_count_against_the_body_limit_and_the_daily_quota(limited: Limited) -> None:
    base, headers = limited.pipeline.command_url, {"X-API-Key": limited.keys["files"]}
    pdf = b"%PDF-1.4 " + b"p" * (QUOTA // 2)
    raw = httpx.put(
        f"{base}/v1/files/a.pdf", content=pdf, headers={**headers, "Content-Type": "application/pdf"}
    )
    assert raw.status_code == 202, raw.text
    # The multipart form is parsed before the quota is charged: what arrived is counted all the same.
    form = httpx.post(f"{base}/v1/files", files={"file": ("b.pdf", pdf, "application/pdf")}, headers=headers)
    assert form.status_code == 429 and form.json()["type"].endswith("/quota-exceeded"), form.text
    huge = httpx.put(
        f"{base}/v1/files/c.pdf",
        content=b"%PDF-" + b"x" * (2 * MB),
        headers={**headers, "Content-Type": "application/pdf"},
    )
    assert huge.status_code == 413 and huge.json()["type"].endswith("/body-too-large")
    unknown = httpx.put(
        f"{base}/v1/files/d.png", content=b"\x89PNG", headers={**headers, "Content-Type": "image/png"}
    )
    assert unknown.status_code == 415 and unknown.json()["type"].endswith("/unsupported-media-type")
