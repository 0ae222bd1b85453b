"""The S3 blob store against a real S3 HTTP server: moto's standalone server, started for this module
(no Docker, no cloud). Same behaviour as the local directory: content-addressed, idempotent, verified."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from ragstream.blobs import BlobCorrupt, BlobNotFound, digest, open_blob_store
from ragstream.blobs.s3 import S3BlobStore
from ragstream.local.processes import free_port
from ragstream.local.samples import pdf_bytes
from ragstream.settings import BlobSettings
from ragstream.streams.documents.stage import ExtractionStage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    pytest.importorskip("moto")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None, "moto server did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def settings(s3_url: str) -> BlobSettings:
    return BlobSettings(
        backend="s3", s3_bucket="ragstream-test", s3_endpoint_url=s3_url, s3_region="us-east-1",
        s3_access_key_id="test", s3_secret_access_key="test", s3_create_bucket=True,  # type: ignore[arg-type]
    )  # fmt: skip


def test_s3_blobs_are_content_addressed_idempotent_and_verified(settings: BlobSettings) -> None:
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    ref = store.put(b"%PDF-1.7 bytes", "application/pdf")
    assert (ref.sha256, ref.size) == (digest(b"%PDF-1.7 bytes"), 14)
    assert store.put(b"%PDF-1.7 bytes", "application/pdf") == ref and store.exists(ref.sha256)
    assert store.get(ref.sha256) == b"%PDF-1.7 bytes"
    with pytest.raises(BlobNotFound):
        store.get(digest(b"never stored"))
    store._client.put_object(Bucket=settings.s3_bucket, Key=f"{settings.s3_prefix}{ref.sha256}", Body=b"x")
    with pytest.raises(BlobCorrupt):
        store.get(ref.sha256)


def test_the_extraction_stage_reads_a_claim_checked_pdf_from_s3(settings: BlobSettings) -> None:
    store = open_blob_store(settings)
    ref = store.put(pdf_bytes(["First page.", "The teal archive opens at nine."]), "application/pdf")
    cmd = {"content_type": "application/pdf", "content_bytes": None, "blob": ref.model_dump()}
    extracted = asyncio.run(ExtractionStage(settings, store).extract(cmd))
    page_two = extracted["locations"][1]
    assert page_two["label"] == "page 2"
    assert "teal archive" in extracted["content"][page_two["start"] : page_two["end"]]


def test_the_s3_sweep_deletes_only_blobs_written_before_the_cutoff(settings: BlobSettings) -> None:
    store = open_blob_store(settings.model_copy(update={"s3_prefix": "sweep/"}))
    before = store.put(b"%PDF-swept", "application/pdf")
    time.sleep(1.5)  # S3 times have second resolution
    cutoff = datetime.now(UTC)
    time.sleep(1.5)
    after = store.put(b"%PDF-kept", "application/pdf")
    assert store.sweep(cutoff, dry_run=True) == [before.sha256] and store.exists(before.sha256)
    assert store.sweep(cutoff) == [before.sha256]
    assert not store.exists(before.sha256) and store.exists(after.sha256)
