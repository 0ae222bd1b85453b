"""`ragstream search` and `ragstream ask`: the query API, as the configured credential."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import typer
from rich.panel import Panel
from rich.text import Text

from ragstream.cli.output import Col, console, emit, errors, json_option, print_table
from ragstream.cli.session import PRINCIPALS_HELP, TENANT_HELP, URL_HELP, open_session
from ragstream.client import AnswerCitations, AnswerDelta, AnswerEvent, AnswerFallback, AnswerOut, SearchOut
from ragstream.queries.answers.base import Citation

PASSAGE_CHARS = 160


class Mode(StrEnum):
    hybrid = "hybrid"
    bm25 = "bm25"
    dense = "dense"


def _filters(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--filter")
        out[key] = wanted
    return out


FILTER_HELP = "Only documents whose metadata KEY has VALUE (KEY=VALUE, repeat)."
TOKEN_HELP = "Wait until the read models hold this write (a consistency token from a write)."


def search(
    ctx: typer.Context,
    query: str,
    limit: int = typer.Option(10, min=1, max=100),
    mode: Mode = typer.Option(Mode.hybrid, help="Retrieval mode."),
    filter_: list[str] = typer.Option([], "--filter", help=FILTER_HELP),
    consistency_token: str | None = typer.Option(None, help=TOKEN_HELP),
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    principals: str = typer.Option("", help=PRINCIPALS_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Ranked passages with each retriever's score."""
    session = open_session(ctx, url=url, tenant=tenant, principals=principals)
    result = session.client.search(
        query, limit=limit, mode=mode.value, metadata=_filters(filter_), consistency_token=consistency_token
    )
    if json_output:
        emit(result)
        return
    show_hits(result)


def show_hits(result: SearchOut) -> None:
    if not result.hits:
        console.print("no passages found")
        return
    cols = [
        Col("#", 9, justify="right"), Col("document", 8, wrap=True, min_width=16),
        Col("score", 6, justify="right"), Col("bm25 rank", 2, justify="right"),
        Col("vector rank", 1, justify="right"), Col("passage", 7, wrap=True, min_width=24),
    ]  # fmt: skip
    rows = []
    for hit in result.hits:
        s, text = hit.scores, hit.text.replace("\n", " ")
        passage = text[:PASSAGE_CHARS] + ("…" if len(text) > PASSAGE_CHARS else "")
        document = f"{hit.document_id} ({hit.location})" if hit.location else hit.document_id
        rows.append([str(hit.rank), document, f"{hit.score:.4f}", str(s.bm25_rank or "-"),
                     str(s.vector_rank or "-"), passage])  # fmt: skip
    print_table(cols, rows)


def ask(
    ctx: typer.Context,
    question: str,
    passages: int = typer.Option(5, min=1, max=20),
    mode: Mode = typer.Option(Mode.hybrid, help="Retrieval mode."),
    filter_: list[str] = typer.Option([], "--filter", help=FILTER_HELP),
    consistency_token: str | None = typer.Option(None, help=TOKEN_HELP),
    stream: bool = typer.Option(False, help="Print the answer as it is written."),
    template: str | None = typer.Option(
        None, help="A prompt template of the tenant, NAME or NAME@VERSION (default: the tenant's default)."
    ),
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    principals: str = typer.Option("", help=PRINCIPALS_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option("Print JSON: one document, or with --stream one line per event."),
) -> None:
    """A grounded answer with numbered citations."""
    session = open_session(ctx, url=url, tenant=tenant, principals=principals)
    options: dict[str, Any] = {
        "passages": passages, "mode": mode.value, "metadata": _filters(filter_),
        "consistency_token": consistency_token, "template": template,
    }  # fmt: skip
    if stream:
        _stream(session.client.stream_answer(question, **options), question, json_output)
        return
    result = session.client.answer(question, **options)
    if json_output:
        emit(result)
        return
    print_answer(question, result)


def _stream(events: Iterator[AnswerEvent], question: str, json_output: bool) -> None:
    if not json_output:
        console.print(Text(question, style="bold"))
    names = {AnswerDelta: "delta", AnswerCitations: "citations", AnswerFallback: "fallback"}
    for event in events:
        if json_output:
            emit({"event": names[type(event)], **event.model_dump()})
        elif isinstance(event, AnswerFallback):
            _fallback_note(event.generator, event.reason)
        elif isinstance(event, AnswerDelta):
            console.print(event.text, end="", soft_wrap=True, highlight=False)
        elif isinstance(event, AnswerCitations):
            console.print()
            print_citations(event.citations)


def print_answer(question: str, data: AnswerOut) -> None:
    if data.fallback is not None:
        _fallback_note(data.fallback, data.fallback_reason or "")
    console.print(Panel(data.answer, title=Text(question, style="bold"), expand=False))
    print_citations(data.citations)


def where(location: str, start: int, end: int) -> str:
    """ "page 2, chars 120-180" for a binary original, "chars 120-180" for text."""
    return f"{location}, chars {start}-{end}" if location else f"chars {start}-{end}"


def _fallback_note(generator: str, reason: str) -> None:
    errors.print(
        f"[yellow]the language model is unavailable ({reason}); the {generator} generator answered[/yellow]"
    )


def print_citations(citations: list[Citation]) -> None:
    for c in citations:
        console.print(
            f"  [{c.marker}] {c.document_id} ({c.title}) {where(c.location, c.start, c.end)}",
            markup=False,
            highlight=False,
        )
