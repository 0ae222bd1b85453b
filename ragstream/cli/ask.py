"""`ragstream search` and `ragstream ask`: readable clients of the query API."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ragstream.settings import get_settings

console = Console()


def _post(path: str, body: dict[str, Any], tenant: str, principals: str, url: str | None) -> dict[str, Any]:
    settings = get_settings()
    base = url or f"http://{settings.api.query_host}:{settings.api.query_port}"
    headers = {"X-Tenant": tenant, "X-Principals": principals}
    if api_key := os.environ.get("RAGSTREAM_API_KEY"):
        headers["X-API-Key"] = api_key
    try:
        response = httpx.post(f"{base}{path}", json=body, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        console.print(f"[red]query API at {base} unreachable: {exc}[/red]")
        raise typer.Exit(2) from exc
    if response.status_code >= 400:
        console.print(f"[red]{response.status_code}: {response.text}[/red]")
        raise typer.Exit(1)
    data: dict[str, Any] = response.json()
    return data


def search(
    query: str,
    limit: int = typer.Option(10, min=1, max=100),
    mode: str = typer.Option("hybrid", help="hybrid, bm25 or dense"),
    tenant: str = typer.Option("default"),
    principals: str = typer.Option("", help="Comma-separated principals and groups, e.g. user:ann,group:eng"),
    url: str = typer.Option(None, help="Query API base URL."),
) -> None:
    """Ranked passages with each retriever's score."""
    data = _post("/v1/search", {"query": query, "limit": limit, "mode": mode}, tenant, principals, url)
    table = Table("#", "document", "score", "bm25 rank", "vector rank", "passage")
    for hit in data["hits"]:
        s = hit["scores"]
        text = hit["text"].replace("\n", " ")
        table.add_row(str(hit["rank"]), hit["document_id"], f"{hit['score']:.4f}", str(s["bm25_rank"] or "-"),
                      str(s["vector_rank"] or "-"), text[:160] + ("…" if len(text) > 160 else ""))  # fmt: skip
    console.print(table)


def ask(
    question: str,
    passages: int = typer.Option(5, min=1, max=20),
    tenant: str = typer.Option("default"),
    principals: str = typer.Option("", help="Comma-separated principals and groups"),
    url: str = typer.Option(None, help="Query API base URL."),
) -> None:
    """A grounded answer with numbered citations."""
    data = _post("/v1/answer", {"question": question, "passages": passages}, tenant, principals, url)
    print_answer(question, data)


def print_answer(question: str, data: dict[str, Any]) -> None:
    console.print(Panel(data["answer"], title=f"[bold]{question}[/bold]", expand=False))
    for c in data["citations"]:
        console.print(f"  [{c['marker']}] {c['document_id']} ({c['title']}) chars {c['start']}-{c['end']}")
