"""HTTP client side of the admin commands: requests to the query API and following a job's progress."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ragstream.settings import get_settings

console = Console()
POLL_S = 0.5


def base_url(url: str | None) -> str:
    settings = get_settings()
    return (url or f"http://{settings.api.query_host}:{settings.api.query_port}").rstrip("/")


def request(
    method: str, url: str | None, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
) -> Any:
    base = base_url(url)
    headers = dict(headers or {})
    # Same convention as `ragstream search`: admin calls need a key with the admin scope when auth is on.
    if api_key := os.environ.get("RAGSTREAM_API_KEY"):
        headers["X-API-Key"] = api_key
    try:
        response = httpx.request(method, f"{base}{path}", headers=headers, timeout=60, **kwargs)
    except httpx.HTTPError as exc:
        console.print(f"[red]query API at {base} unreachable: {exc}[/red]")
        raise typer.Exit(2) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        console.print(f"[red]{response.status_code}: {detail}[/red]")
        raise typer.Exit(1)
    return response.json()


def follow(url: str | None, job: dict[str, Any]) -> dict[str, Any]:
    """Poll a job until it ends, with a progress bar; exit non-zero if it failed."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(_describe(job), total=job["total"] or None)
        while job["state"] == "running":
            time.sleep(POLL_S)
            job = request("GET", url, f"/v1/admin/jobs/{job['id']}")
            # A rebuild's total grows while live writes arrive; the ETA follows it.
            progress.update(
                task, description=_describe(job), total=max(job["total"], 1), completed=job["done"]
            )
    show_job(job)
    if job["state"] != "done":
        raise typer.Exit(1)
    return job


def _describe(job: dict[str, Any]) -> str:
    target = f" {job['generation']}" if job.get("generation") else ""
    return f"{job['kind']} {job['read_model']}{target}: {job['phase']}"


def show_job(job: dict[str, Any]) -> None:
    if job["state"] == "failed":
        console.print(f"[red]{job['kind']} {job.get('id', '')} failed: {job['error']}[/red]")
        return
    line = f"[green]{job['kind']} done[/green]: {job['done']} records read"
    if job["kind"] == "replay":
        line += f", {job['applied']} events re-applied, {job['skipped']} left alone by the version guard"
    if job.get("generation"):
        line += f"; generation {job['generation']}" + (" is live" if job["kind"] == "rebuild" else "")
    console.print(line)
