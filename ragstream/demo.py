"""`make demo`: the whole platform on a real corpus, from nothing.

Starts the local stack and the services, ingests the project's own docs plus Python's bundled
documentation topics through the command API (commands -> Kafka -> processors -> read models), then
asks questions and prints grounded answers with numbered citations.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel

from ragstream.commands.corpus import discover, file_command, pydoc_topic_commands
from ragstream.contracts import ContentType, WritePosition, consistency_token
from ragstream.local import stack
from ragstream.local.pipeline import LocalPipeline, isolated_env
from ragstream.local.samples import docx_bytes, pdf_bytes
from ragstream.settings import PROJECT_ROOT, get_settings

console = Console()
QUESTIONS = [
    "What does the with statement do?",
    "How are exceptions handled with try and except?",
    "What is a generator expression?",
    "How does ragstream keep answers fresh when documents change?",
    "Which component stores the document registry and audit trail?",
    "What is the airspeed velocity of an unladen swallow carrying a coconut?",
    # Answered from page 2 of the generated PDF: the citation names the page.
    "How long are audit log exports kept?",
]
# Binary documents made on the spot (no downloads): the answer above cites the PDF's page.
PDF_PAGES = [
    "Operations handbook. This handbook describes how the platform team runs ragstream in production.",
    "Retention. Audit log exports are kept for seven years in cold storage, then destroyed.",
    "On call. The on-call engineer acknowledges a page within fifteen minutes.",
]


def binary_documents() -> list[tuple[str, bytes, str]]:
    return [
        ("handbook/operations.pdf", pdf_bytes(PDF_PAGES, title="Operations handbook"), ContentType.PDF.value),
        (
            "handbook/deploys.docx",
            docx_bytes(
                "Deploy checklist",
                [("Before", "Freeze merges and announce the window."), ("After", "Watch the error budget.")],
                table=[["step", "owner"], ["canary", "release manager"]],
            ),
            ContentType.DOCX.value,
        ),
    ]


def corpus() -> list[dict[str, Any]]:
    docs = []
    files, _ = discover([PROJECT_ROOT / "README.md", PROJECT_ROOT / "docs", PROJECT_ROOT / "schemas"])
    for path in files:
        root = next((r for r in (PROJECT_ROOT,) if path.is_relative_to(r)), None)
        docs.append(file_command(path, root=root, tenant="default", actor="demo"))
    docs.extend(pydoc_topic_commands(tenant="default", actor="demo"))
    fields = ("document_id", "title", "content", "content_type", "metadata")
    return [{k: getattr(d, k) for k in fields} for d in docs]


def ingest(pipeline: LocalPipeline, docs: list[dict[str, Any]]) -> str:
    positions: list[WritePosition] = []
    with httpx.Client(timeout=60) as client:
        for i in range(0, len(docs), 32):
            response = client.post(
                f"{pipeline.command_url}/v1/documents", json={"documents": docs[i : i + 32]}
            )
            response.raise_for_status()
            positions.extend(WritePosition.model_validate(c["position"]) for c in response.json()["commands"])
        for document_id, data, media_type in binary_documents():
            response = client.put(
                f"{pipeline.command_url}/v1/files/{document_id}",
                content=data,
                headers={"Content-Type": media_type},
            )
            response.raise_for_status()
            positions.extend(WritePosition.model_validate(c["position"]) for c in response.json()["commands"])
    return consistency_token(positions)


def wait_for(pipeline: LocalPipeline, token: str, timeout: float = 1800) -> None:
    """Read-your-writes: the query API answers once every write has reached the read models."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < deadline:
            response = client.post(
                f"{pipeline.query_url}/v1/search", json={"query": "x", "consistency_token": token}
            )
            if response.status_code == 200:
                return
            if response.status_code != 504:
                response.raise_for_status()
    raise TimeoutError("ingest did not finish in time")


def show_answer(question: str, data: dict[str, Any]) -> None:
    console.print(Panel(data["answer"], title=f"[bold]Q: {question}[/bold]", expand=True))
    seen: dict[int, dict[str, Any]] = {}
    for c in data["citations"]:
        seen.setdefault(c["marker"], c)
    for marker, c in sorted(seen.items()):
        where = f"{c['location']}, " if c.get("location") else ""
        console.print(
            f"   [{marker}] {c['document_id']} — {c['title']} ({where}chars {c['start']}-{c['end']})"
        )
    if not data["grounded"]:
        console.print("   (no citations: nothing relevant was found)")
    console.print()


def keep_serving(pipeline: LocalPipeline) -> None:
    """At a terminal (or with RAGSTREAM_DEMO_SERVE=1), the services stay up for the web console until
    Ctrl+C; elsewhere (CI, a pipe) the demo ends as soon as it has answered."""
    if not (sys.stdin.isatty() or os.environ.get("RAGSTREAM_DEMO_SERVE") == "1"):
        return
    console.print(
        f"[bold]web console[/bold]: {pipeline.query_url}/console/ (dev profile: sign in with the key field"
        " empty; tenant 'default'). Press Ctrl+C to stop."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping…")


def main() -> None:
    settings = get_settings()
    state = settings.stack.dir / "demo"
    was_running = all(s.running for s in stack.status(settings))
    console.rule("ragstream demo")
    console.print("starting the local stack (Kafka KRaft, PostgreSQL)…")
    for line in stack.up(settings):
        console.print("  " + line.replace("[stack] ", ""))
    pipeline = LocalPipeline(isolated_env("demo", state), state / "logs")
    try:
        console.print("starting a stream worker, the command API and the query API…")
        pipeline.start()
        docs = corpus()
        console.print(
            f"ingesting {len(docs) + len(binary_documents())} documents (project docs, Python's documentation"
            " topics, a generated PDF and DOCX)…"
        )
        started = time.perf_counter()
        token = ingest(pipeline, docs)
        wait_for(pipeline, token)
        elapsed = time.perf_counter() - started
        ready = pipeline.node_status()
        console.print(
            f"[green]ingest complete[/green]: {ready['documents']} documents, {ready['chunks']} chunks indexed"
            f" in {elapsed:.1f}s (unchanged documents from an earlier run are skipped, not re-embedded)\n"
        )
        with httpx.Client(timeout=120) as client:
            for question in QUESTIONS:
                response = client.post(
                    f"{pipeline.query_url}/v1/answer", json={"question": question, "passages": 5}
                )
                response.raise_for_status()
                show_answer(question, response.json())
        console.print(f"logs: {pipeline.log_dir}")
        keep_serving(pipeline)
    finally:
        pipeline.stop()
        if not was_running:
            stack.down(settings)


if __name__ == "__main__":
    main()
