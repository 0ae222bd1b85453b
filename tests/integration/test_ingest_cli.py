"""`ragstream ingest --kafka` writes one upsert per supported file straight to the real broker, says
which tenant it writes to, and what it skipped. (Through the command API as a tenant key:
tests/integration/test_cli_clients.py.)"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from ragstream.cli.main import app
from ragstream.kafka import create_topics
from ragstream.settings import Settings
from ragstream.topics import catalogue
from tests.integration.helpers import decoded_records

pytestmark = pytest.mark.integration


def test_ingest_folder_sends_text_markdown_and_html(
    isolated_settings: Settings, pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    asyncio.run(create_topics(isolated_settings.kafka, catalogue(isolated_settings.kafka.topic_prefix).all()))
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "guide" / "intro.md").write_text("# Getting started\n\nInstall it.")
    (docs / "notes.txt").write_text("plain notes")
    (docs / "page.html").write_text("<html><body><h1>Page</h1><p>Hello</p></body></html>")
    (docs / "image.png").write_bytes(b"\x89PNG")
    (docs / "broken.txt").write_bytes(b"caf\xe9 latin-1")
    (docs / ".hidden.md").write_text("never sent")

    with mock.patch.dict(os.environ, pipeline_env):
        from ragstream.settings import get_settings

        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["ingest", str(docs), "--kafka", "--tenant", "acme"])
        finally:
            get_settings.cache_clear()

    assert result.exit_code == 1, result.output  # one file was rejected
    # The console wraps long lines (the path's length decides where), so compare words, not lines.
    assert "not valid UTF-8" in " ".join(result.output.split())
    assert "to tenant 'acme'" in " ".join(result.stderr.split())
    topic = catalogue(isolated_settings.kafka.topic_prefix).commands.name
    sent = {d.record["document_id"]: d.record for *_, d in decoded_records(isolated_settings, topic)}
    assert set(sent) == {"guide/intro.md", "notes.txt", "page.html"}
    assert sent["guide/intro.md"]["content_type"] == "text/markdown"
    assert sent["guide/intro.md"]["title"] == "Getting started"
    assert sent["page.html"]["content_type"] == "text/html"
    assert {r["tenant"] for r in sent.values()} == {"acme"}
