"""Binary documents through the real pipeline, with authentication on: a generated PDF is searchable
by page and its answer cites the page; a DOCX uploaded as a multipart form; a large file through the
blob store (claim check); hostile files end as rejected commands whose reasons the API shows; delete."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import httpx
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner, Result

from ragstream.blobs import open_blob_store
from ragstream.cli.main import app
from ragstream.client import AnswerCitations, Client, InvalidRequest, SearchIn
from ragstream.local.pipeline import LocalPipeline
from ragstream.local.samples import docx_bytes, eml_bytes, encrypted_pdf, pdf_bytes, zip_bomb_docx
from ragstream.queries.api.schemas import Filters
from ragstream.settings import Settings, get_settings
from ragstream.streams.documents.stage import ExtractionStage
from ragstream.topics import catalogue
from tests.conftest import unique_tag
from tests.integration.helpers import decoded_records, secured_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
INLINE_MAX = 16 * 1024
PAGES = [
    "Onboarding handbook. Badges are collected at the front desk on the first morning.",
    "The aurora ledger is reconciled every Friday by the finance team before noon.",
    "Parking permits are renewed each January through the facilities portal.",
]


@pytest.fixture(scope="module")
def running(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalPipeline, str, Path]]:
    tag = unique_tag("docs")
    work = Path(tmp_path_factory.mktemp(tag))
    with secured_pipeline(
        tag, work, {"app": ("acme", ["read", "write"])}, workers=1,
        RAGSTREAM_BLOBS__INLINE_MAX_BYTES=str(INLINE_MAX),
        RAGSTREAM_BLOBS__MAX_UNZIPPED_BYTES=str(2 * 1024 * 1024),
    ) as (pipeline, keys):  # fmt: skip
        yield pipeline, keys["app"], work


@pytest.fixture
def client(running: tuple[LocalPipeline, str, Path]) -> Iterator[Client]:
    pipeline, key, _ = running
    with Client(pipeline.query_url, pipeline.command_url, api_key=key) as c:
        yield c


def test_a_pdf_is_found_by_its_page_and_the_answer_cites_that_page(client: Client) -> None:
    client.upload("handbook.pdf", pdf_bytes(PAGES), PDF, title="Handbook").wait_searchable(240)

    hits = client.search("When is the aurora ledger reconciled?").hits
    assert hits[0].document_id == "handbook.pdf" and hits[0].location == "page 2"
    assert "aurora ledger" in hits[0].text

    answer = client.answer("When is the aurora ledger reconciled?", passages=2)
    assert answer.grounded
    cited = answer.citations[0]
    assert (cited.document_id, cited.location) == ("handbook.pdf", "page 2")
    streamed = list(client.stream_answer("When is the aurora ledger reconciled?", passages=2))
    assert isinstance(streamed[-1], AnswerCitations) and streamed[-1].citations[0].location == "page 2"
    # The document's record says what it was made from.
    assert client.get_document("handbook.pdf").content_type == "text/markdown"

    # The same file again is unchanged; with reindex it is extracted and indexed again, a new version.
    [same] = client.upload("handbook.pdf", pdf_bytes(PAGES), PDF, title="Handbook").outcomes(240)
    assert same.outcome == "rejected" and same.reason.startswith("unchanged"), same
    client.upload("handbook.pdf", pdf_bytes(PAGES), PDF, title="Handbook", reindex=True).wait_searchable(240)
    assert client.get_document("handbook.pdf").version == 2


def test_a_large_docx_goes_through_the_blob_store_as_a_multipart_upload(
    running: tuple[LocalPipeline, str, Path], client: Client
) -> None:
    pipeline, key, work = running
    data = docx_bytes(
        "Incident runbook",
        [("Escalation", "Page the cobalt rotation after fifteen minutes without an owner."),
         ("Appendix", "x " * 20000)],
    )  # fmt: skip
    assert len(data) > INLINE_MAX
    response = httpx.post(
        f"{pipeline.command_url}/v1/files", headers={"X-API-Key": key}, timeout=60,
        files={"file": ("runbook.docx", data, DOCX)}, data={"metadata": '{"team": "sre"}'},
    )  # fmt: skip
    assert response.status_code == 202, response.text
    token = response.json()["commands"][0]["consistency_token"]
    client.wait_searchable(token, timeout_s=240)
    assert list((work / "blobs").rglob("*")), "the file's bytes were stored in the blob store"

    hits = client.search("who to page without an owner", metadata={"team": "sre"}).hits
    assert hits and hits[0].document_id == "runbook.docx" and "cobalt rotation" in hits[0].text

    client.delete("runbook.docx").wait_searchable(240)
    assert all(h.document_id != "runbook.docx" for h in client.search("cobalt rotation").hits)


def test_hostile_files_are_rejected_with_reasons_and_the_partition_keeps_flowing(client: Client) -> None:
    pdf = pdf_bytes(PAGES)
    hostile = {
        "bad/encrypted.pdf": (encrypted_pdf(pdf), PDF, "encrypted"),
        "bad/corrupt.pdf": (pdf[:300] + b"\x00garbage" * 40, PDF, "damaged"),
        "bad/lying.docx": (pdf, DOCX, "not an Office file"),
        "bad/bomb.docx": (zip_bomb_docx(8 * 1024 * 1024), DOCX, "zip bomb"),
    }
    for document_id, (data, media_type, _) in hostile.items():
        client.upload(document_id, data, media_type)
    # Sent last, to the same worker: it is searchable, so nothing before it stalled.
    client.upload("good.pdf", pdf_bytes(["The heliotrope archive opens at dawn."]), PDF).wait_searchable(240)
    assert client.search("heliotrope archive").hits[0].document_id == "good.pdf"

    for document_id, (_, _, reason) in hostile.items():
        entries = client.history(document_id).entries
        assert [e.outcome for e in entries] == ["rejected"], document_id
        assert entries[0].reason.startswith("unreadable:") and reason in entries[0].reason, entries[0].reason

    with pytest.raises(InvalidRequest, match="empty"):
        client.upload("bad/empty.pdf", b"", PDF)


def _cli(pipeline: LocalPipeline, key: str, home: Path, *args: str) -> Result:
    environ = {**pipeline.env, "RAGSTREAM_API_KEY": key, "RAGSTREAM_CONFIG": str(home / "profiles.json")}
    with mock.patch.dict(os.environ, environ):
        os.environ.pop("RAGSTREAM_PROFILE", None)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args))
        finally:
            get_settings.cache_clear()


def test_the_cli_ingests_a_mixed_folder_cites_pages_and_audits_a_rejection(
    running: tuple[LocalPipeline, str, Path], tmp_path: Path
) -> None:
    pipeline, key, _ = running
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.md").write_text("# Notes\n\nThe saffron queue drains every hour.")
    (folder / "policy.pdf").write_bytes(
        pdf_bytes(["Cover page.", "Refunds are approved by the vermilion desk."])
    )
    (folder / "team.docx").write_bytes(docx_bytes("Team", [("Owners", "The indigo squad owns billing.")]))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")

    ingested = _cli(pipeline, key, tmp_path, "ingest", str(folder), "--wait", "--json")
    # --wait follows each write to its outcome: the broken file is rejected, so the exit says so.
    assert ingested.exit_code == 1, ingested.output
    report = json.loads(ingested.stdout)
    assert report["written"] == 4 and report["outcomes"]["searchable"] == 3
    assert [r.split(":")[0] for r in report["outcomes"]["rejected"]] == ["broken.pdf"]
    assert "unreadable" in report["outcomes"]["rejected"][0]

    hits = json.loads(_cli(pipeline, key, tmp_path, "search", "who approves refunds", "--json").stdout)[
        "hits"
    ]
    assert (hits[0]["document_id"], hits[0]["location"]) == ("policy.pdf", "page 2")
    asked = _cli(pipeline, key, tmp_path, "ask", "Who approves refunds?")
    assert "policy.pdf" in asked.stdout and "page 2, chars" in asked.stdout, asked.stdout
    assert (
        json.loads(_cli(pipeline, key, tmp_path, "search", "indigo squad", "--json").stdout)["hits"][0][
            "document_id"
        ]
        == "team.docx"
    )

    audit = _cli(pipeline, key, tmp_path, "audit", "broken.pdf", "--json")
    assert audit.exit_code == 0, audit.output
    [entry] = json.loads(audit.stdout)["history"]
    assert entry["outcome"] == "rejected" and "the PDF is damaged" in entry["reason"]


def test_the_demo_documents_answer_with_a_page_citation(client: Client) -> None:
    from ragstream.demo import QUESTIONS, binary_documents

    for document_id, data, media_type in binary_documents():
        written = client.upload(document_id, data, media_type)
    written.wait_searchable(240)
    answer = client.answer(QUESTIONS[-1], passages=3)
    assert answer.grounded
    assert (answer.citations[0].document_id, answer.citations[0].location) == (
        "handbook/operations.pdf",
        "page 2",
    )


def test_an_emails_pdf_attachment_becomes_a_linked_document_cited_by_page(client: Client) -> None:
    report = pdf_bytes(["Quarterly report cover.", "The magenta cluster was retired in March."])
    mail = eml_bytes("Quarterly report", "Attached is the report.", [("report.pdf", PDF, report)])
    written = client.upload("mail/q1.eml", mail, "message/rfc822").wait_searchable(240)
    attachment = "mail/q1.eml/attachments/1-report.pdf"
    assert [c.document_id for c in written.commands] == ["mail/q1.eml", attachment]

    hit = client.search("When was the magenta cluster retired?").hits[0]
    assert (hit.document_id, hit.location) == (attachment, "page 2")
    assert hit.metadata["attached_to"] == "mail/q1.eml"
    query = SearchIn(query="quarterly report attached", filters=Filters(document_ids=["mail/q1.eml"]))
    message = client.search(query).hits
    assert message and "Subject: Quarterly report" in message[0].text


def test_replaying_a_claim_checked_command_extracts_exactly_the_text_that_was_indexed(
    running: tuple[LocalPipeline, str, Path], client: Client
) -> None:
    pipeline, _, _ = running
    from pydoc_data.topics import topics as pydoc

    # Real prose, so the PDF does not compress below the inline limit.
    prose = [pydoc[t][:3000].encode("latin-1", "replace").decode("latin-1") for t in ("types", "with", "try")]
    pages = [*prose, "The obsidian switch resets the replay rig.", *prose]
    data = pdf_bytes(pages)
    assert len(data) > INLINE_MAX
    client.upload("replay/manual.pdf", data, PDF).wait_searchable(240)

    settings = pipeline.settings
    topics = catalogue(settings.kafka.topic_prefix)
    [command] = [d.record for *_, d in decoded_records(settings, topics.commands.name)
                 if d.record["document_id"] == "replay/manual.pdf"]  # fmt: skip
    assert command["content_bytes"] is None and command["blob"]["size"] == len(data)
    [event] = [d.record for *_, d in decoded_records(settings, topics.events.name)
               if d.name == "DocumentUpserted" and d.record["document_id"] == "replay/manual.pdf"]  # fmt: skip

    # What a replay of the command log does for this record: the same bytes, so the same text.
    replayed = asyncio.run(ExtractionStage(settings.blobs, open_blob_store(settings.blobs)).extract(command))
    assert (replayed["content"], replayed["locations"]) == (event["content"], event["locations"])
    assert event["blob"]["sha256"] == command["blob"]["sha256"]
    hit = client.search("What resets the replay rig?").hits[0]
    assert (hit.document_id, hit.text) == ("replay/manual.pdf", "The obsidian switch resets the replay rig.")
    reader = PdfReader(io.BytesIO(data))
    page = next(n for n, p in enumerate(reader.pages, start=1) if "obsidian" in (p.extract_text() or ""))
    assert hit.location == f"page {page}" and page > 1
