"""`bench ingest --formats`: PDFs through the whole pipeline (upload bytes -> extraction in a child
process -> chunking -> embedding -> read models), reported as pages/s and chunks/s, with the share of
the workers' time spent extracting."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from ragstream.bench.corpus import ACTOR, TENANT, documents
from ragstream.bench.ingest import _delta
from ragstream.bench.pipeline import fresh_pipeline
from ragstream.contracts import ContentType, UpsertDocument
from ragstream.local.samples import pdf_bytes


def pdf_commands(docs: int, pages: int) -> tuple[list[UpsertDocument], int]:
    """`docs` PDFs of `pages` pydoc topics each (one topic a page, longer ones flowing onto more
    pages), as inline upserts; and the number of PDF pages they hold."""
    texts = [c.content for c in documents(docs * pages, prefix="pdf")]
    commands, total_pages = [], 0
    for d in range(docs):
        # The PDF core fonts are Latin-1: anything else becomes "?" (the text is filler for timing).
        parts = [t.encode("latin-1", "replace").decode("latin-1") for t in texts[d * pages : (d + 1) * pages]]
        data = pdf_bytes(parts)
        total_pages += len(PdfReader(io.BytesIO(data)).pages)
        commands.append(
            UpsertDocument(
                tenant=TENANT,
                document_id=f"pdf/{d}.pdf",
                actor=ACTOR,
                title=f"Bench PDF {d}",
                content_type=ContentType.PDF,
                content_bytes=data,
                source={"via": "bench"},
            )
        )
    return commands, total_pages


def run(docs: int, pages: int, workers: int = 1) -> dict[str, Any]:
    commands, total_pages = pdf_commands(docs, pages)
    with fresh_pipeline("formats", workers=workers) as pipeline:
        pipeline.warm_up()
        before, metrics_before = pipeline.ready(), pipeline.worker_metrics()
        pipeline_s = pipeline.ingest(commands)
        after = pipeline.ready()
        metrics = _delta(pipeline.worker_metrics(), metrics_before)
    chunks = after["chunks"] - before["chunks"]
    extract_s = metrics.get("ragstream_extraction_seconds_sum", 0.0)
    return {
        "bench": "ingest-formats",
        "format": "pdf",
        "docs": docs,
        "pages": total_pages,
        "chunks": chunks,
        "workers": workers,
        "bytes": sum(len(c.content_bytes or b"") for c in commands),
        "pipeline_s": round(pipeline_s, 2),
        "pages_per_s": round(total_pages / pipeline_s, 2),
        "chunks_per_s": round(chunks / pipeline_s, 2),
        "extraction_s": round(extract_s, 2) if metrics else None,
        "extraction_share_of_wall": round(extract_s / pipeline_s, 3) if metrics else None,
    }
