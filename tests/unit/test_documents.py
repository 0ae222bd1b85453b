"""Binary documents: contracts, the local blob store, extraction (and its bounds), located chunking."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragstream.blobs import BlobCorrupt, BlobNotFound, LocalBlobStore, digest
from ragstream.codec import load_codec
from ragstream.commands.exceptions import InvalidCommand
from ragstream.commands.files import binary_content_type, binary_upsert
from ragstream.contracts import ContentType, UpsertDocument, encode_command
from ragstream.local.samples import docx_bytes, encrypted_pdf, pdf_bytes, zip_bomb_docx
from ragstream.settings import get_settings
from ragstream.streams.chunking import ChunkingConfig
from ragstream.streams.documents.formats import ExtractionFailed, Limits, extract
from ragstream.streams.documents.located import chunk_located
from ragstream.streams.documents.sandbox import extract_bounded
from tests.unit.codecs import UNIT_CODEC

pytestmark = pytest.mark.unit

PAGES = [
    "Ordinary opening page about nothing much.",
    "The aurora ledger closes at midnight.",
    "Closing page.",
]
DOCX = ContentType.DOCX.value


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return pdf_bytes(PAGES)


def _docx() -> bytes:
    return docx_bytes(
        "Runbook", [("Rollback", "Press the red button twice.")], table=[["k", "v"], ["a", "1"]]
    )


def test_a_pdf_becomes_text_with_a_location_per_page(pdf: bytes) -> None:
    out = extract(pdf, "application/pdf", Limits())
    assert [label for *_, label in out.locations] == ["page 1", "page 2", "page 3"]
    start, end, _ = out.locations[1]
    assert "aurora ledger" in out.text[start:end]


def test_a_docx_keeps_headings_and_tables_as_markdown() -> None:
    out = extract(_docx(), DOCX, Limits())
    assert "# Runbook" in out.text and "## Rollback" in out.text
    assert "| k | v |" in out.text and "| a | 1 |" in out.text


def test_a_deck_a_workbook_and_a_message_keep_slides_sheets_and_headers() -> None:
    from openpyxl import Workbook
    from pptx import Presentation

    deck = Presentation()
    for title in ("Intro", "Budget plan"):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = f"{title} details"
    buffer = io.BytesIO()
    deck.save(buffer)
    slides = extract(buffer.getvalue(), ContentType.PPTX.value, Limits())
    assert [label for *_, label in slides.locations] == ["slide 1", "slide 2"]
    assert "## Budget plan" in slides.text

    book = Workbook()
    book.active.title = "Costs"
    book.active.append(["item", "eur"])
    book.active.append(["disk", 12])
    buffer = io.BytesIO()
    book.save(buffer)
    sheets = extract(buffer.getvalue(), ContentType.XLSX.value, Limits())
    assert sheets.locations[0][2] == "sheet Costs" and "| disk | 12 |" in sheets.text

    mail = b"From: ops@example.com\r\nSubject: Outage report\r\nDate: Mon, 1 Jan 2026 10:00:00 +0000\r\n\r\nAll good."
    message = extract(mail, ContentType.EMAIL.value, Limits())
    assert "# Outage report" in message.text and "From: ops@example.com" in message.text
    assert "All good." in message.text


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("encrypted", "encrypted"),
        ("corrupt", "damaged"),
        ("empty", "empty"),
        ("pdf-as-docx", "not an Office file"),
        ("docx-as-pdf", "not a PDF"),
        ("zip-bomb", "zip bomb"),
        ("too-many-pages", "over the limit of 2"),
        ("no-text", "no text"),
    ],
)
def test_hostile_files_fail_with_a_reason(pdf: bytes, kind: str, reason: str) -> None:
    cases = {
        "encrypted": (encrypted_pdf(pdf), "application/pdf"),
        "corrupt": (pdf[:200] + b"\x00garbage" * 50, "application/pdf"),
        "empty": (b"", "application/pdf"),
        "pdf-as-docx": (pdf, DOCX),
        "docx-as-pdf": (_docx(), "application/pdf"),
        "zip-bomb": (zip_bomb_docx(4 * 1024 * 1024), DOCX),
        "too-many-pages": (pdf, "application/pdf"),
        "no-text": (pdf_bytes([""]), "application/pdf"),
    }
    data, media_type = cases[kind]
    with pytest.raises(ExtractionFailed, match=reason):
        extract(
            data,
            media_type,
            Limits(max_pages=2 if kind == "too-many-pages" else 300, max_unzipped_bytes=1 << 20),
        )


def test_the_bounded_extraction_returns_what_extract_returns_and_enforces_time_and_memory(pdf: bytes) -> None:
    out = asyncio.run(extract_bounded(pdf, "application/pdf", Limits(), timeout_s=60, memory_mb=1024))
    assert out == extract(pdf, "application/pdf", Limits())
    with pytest.raises(ExtractionFailed, match="longer than its limit"):
        asyncio.run(extract_bounded(pdf, "application/pdf", Limits(), timeout_s=0.01, memory_mb=1024))
    # Too little address space for the parser: the child fails, the caller gets a reason.
    with pytest.raises(ExtractionFailed, match="memory"):
        asyncio.run(extract_bounded(pdf, "application/pdf", Limits(), timeout_s=60, memory_mb=32))
    with pytest.raises(ExtractionFailed, match="encrypted"):
        asyncio.run(
            extract_bounded(encrypted_pdf(pdf), "application/pdf", Limits(), timeout_s=60, memory_mb=1024)
        )


def test_each_chunk_of_a_paged_document_lies_on_one_page_with_exact_offsets(pdf: bytes) -> None:
    out = extract(pdf, "application/pdf", Limits())
    locations = [{"start": s, "end": e, "label": label} for s, e, label in out.locations]
    spans = chunk_located(
        out.text, "text/markdown", locations, ChunkingConfig(max_tokens=64, overlap_tokens=0)
    )
    assert [s.location for s in spans] == ["page 1", "page 2", "page 3"]
    assert [s.span.number for s in spans] == [0, 1, 2]
    joined = "\n\n".join(s.span.text for s in spans)
    assert all(joined[s.span.start : s.span.end] == s.span.text for s in spans)
    assert "aurora" in spans[1].span.text


def test_the_local_blob_store_is_content_addressed_and_verifies_what_it_reads(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    ref = store.put(b"%PDF-bytes", "application/pdf")
    assert ref.sha256 == digest(b"%PDF-bytes") and ref.size == 10
    assert store.put(b"%PDF-bytes", "application/pdf") == ref
    assert store.get(ref.sha256) == b"%PDF-bytes"
    with pytest.raises(BlobNotFound):
        store.get(digest(b"other"))
    path = next(p for p in tmp_path.rglob(ref.sha256))
    path.write_bytes(b"tampered")
    with pytest.raises(BlobCorrupt):
        store.get(ref.sha256)


def test_small_files_travel_inline_and_large_ones_by_reference(tmp_path: Path, pdf: bytes) -> None:
    store = LocalBlobStore(tmp_path)
    common = {"content_type": ContentType.PDF, "tenant": "t", "document_id": "d.pdf", "actor": "a"}
    small = asyncio.run(binary_upsert(store, len(pdf), data=pdf, **common))  # type: ignore[arg-type]
    assert small.content_bytes == pdf and small.blob is None
    large = asyncio.run(binary_upsert(store, len(pdf) - 1, data=pdf, **common))  # type: ignore[arg-type]
    assert large.content_bytes is None and large.blob is not None
    assert store.get(large.blob.sha256) == pdf
    codec = load_codec(UNIT_CODEC)
    for command in (small, large):
        decoded = codec.decode(encode_command(codec, command).value)
        assert decoded.record["content_bytes"] == command.content_bytes
        assert decoded.record["content_type"] == "application/pdf"
    with pytest.raises(InvalidCommand, match="empty"):
        asyncio.run(binary_upsert(store, 100, data=b"", **common))  # type: ignore[arg-type]


def test_binary_and_text_bodies_are_not_mixed() -> None:
    with pytest.raises(ValueError, match="is text"):
        UpsertDocument(document_id="d", content="x", content_bytes=b"x")
    with pytest.raises(ValueError, match="is binary"):
        UpsertDocument(document_id="d", content="x", content_type=ContentType.PDF)
    with pytest.raises(ValueError, match="exactly one"):
        UpsertDocument(document_id="d", content_type=ContentType.PDF)
    assert binary_content_type("application/pdf; charset=binary") is ContentType.PDF
    assert binary_content_type("application/octet-stream", "deck.PPTX") is ContentType.PPTX
    with pytest.raises(InvalidCommand, match="unsupported"):
        binary_content_type("image/png")


def test_version_1_commands_still_decode_as_text_documents() -> None:
    codec = load_codec(UNIT_CODEC)
    from ragstream.codec.avro import AvroSingleObjectCodec, read_schema_dir

    v1 = AvroSingleObjectCodec([s for s in read_schema_dir(get_settings().codec.schemas_dir) if s[1] == 1])
    record = UpsertDocument(
        document_id="d", content="old text", event_time=datetime(2026, 1, 1, tzinfo=UTC)
    ).to_avro()
    record["schema_version"] = 1
    old = v1.encode(
        "UpsertDocument", {k: v for k, v in record.items() if k not in ("content_bytes", "blob", "reindex")}
    )
    decoded = codec.decode(old).record
    assert decoded["content"] == "old text" and decoded["content_bytes"] is None and decoded["blob"] is None
    assert decoded["reindex"] is False  # v3's field: an old command is never a forced one


def test_the_extraction_stage_reads_claim_checked_bytes_and_names_a_missing_blob(
    tmp_path: Path, pdf: bytes
) -> None:
    from ragstream.settings import BlobSettings
    from ragstream.streams.documents.stage import ExtractionStage

    store = LocalBlobStore(tmp_path)
    stage = ExtractionStage(BlobSettings(dir=tmp_path), store)
    ref = store.put(pdf, "application/pdf")
    cmd = {"content": "", "content_type": "application/pdf", "content_bytes": None, "blob": ref.model_dump()}
    first, again = asyncio.run(stage.extract(cmd)), asyncio.run(stage.extract(cmd))
    assert first == again  # immutable bytes: a replay extracts the same text
    assert first["content_type"] == "text/markdown" and first["original_media_type"] == "application/pdf"
    assert [loc["label"] for loc in first["locations"]] == ["page 1", "page 2", "page 3"]
    missing = dict(cmd, blob=dict(ref.model_dump(), sha256=digest(b"never stored")))
    with pytest.raises(ExtractionFailed, match="not readable from the blob store"):
        asyncio.run(stage.extract(missing))


def test_an_emails_document_attachments_are_found_and_other_attachments_left_as_names() -> None:
    from ragstream.commands.files import message_attachments
    from ragstream.local.samples import eml_bytes

    report = pdf_bytes(["Report."])
    mail = eml_bytes(
        "Hi",
        "See attached.",
        [("report.pdf", "application/pdf", report), ("logo.png", "image/png", b"\x89PNG")],
    )
    assert message_attachments(mail) == [("report.pdf", ContentType.PDF, report)]
    text = extract(mail, ContentType.EMAIL.value, Limits()).text
    assert "Attachments: report.pdf, logo.png" in text and "See attached." in text
    assert message_attachments(b"\xff\xfe not a message") == []


def test_the_local_sweep_deletes_blobs_last_written_before_the_retention(tmp_path: Path) -> None:
    import os
    from datetime import timedelta

    store = LocalBlobStore(tmp_path)
    old, fresh, renewed = (store.put(b, "application/pdf") for b in (b"old", b"fresh", b"renewed"))
    long_ago = (datetime.now(UTC) - timedelta(days=40)).timestamp()
    for ref in (old, renewed):
        os.utime(next(tmp_path.rglob(ref.sha256)), (long_ago, long_ago))
    store.put(b"renewed", "application/pdf")  # sent again: its retention starts over
    cutoff = datetime.now(UTC) - timedelta(days=30)
    assert store.sweep(cutoff, dry_run=True) == [old.sha256] and store.exists(old.sha256)
    assert store.sweep(cutoff) == [old.sha256]
    assert not store.exists(old.sha256) and store.exists(fresh.sha256) and store.exists(renewed.sha256)


def test_the_sweep_command_needs_a_retention_and_reports_what_it_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os
    from datetime import timedelta

    from typer.testing import CliRunner

    from ragstream.cli.main import app

    store = LocalBlobStore(tmp_path)
    ref = store.put(b"old", "application/pdf")
    long_ago = (datetime.now(UTC) - timedelta(days=10)).timestamp()
    os.utime(next(tmp_path.rglob(ref.sha256)), (long_ago, long_ago))
    monkeypatch.setenv("RAGSTREAM_BLOBS__DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["blobs", "sweep"])
        assert refused.exit_code != 0 and "kept forever" in refused.output
        swept = CliRunner().invoke(app, ["blobs", "sweep", "--days", "7", "--json"])
    finally:
        get_settings.cache_clear()
    assert swept.exit_code == 0, swept.output
    assert json.loads(swept.stdout)["swept"] == [ref.sha256] and not store.exists(ref.sha256)
