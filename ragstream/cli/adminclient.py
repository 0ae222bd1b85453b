"""Following the query API's long jobs (replays, rebuilds) from the command line."""

from __future__ import annotations

import time

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ragstream.cli.output import ExitCode, console, emit, errors
from ragstream.client import Client, JobOut

POLL_S = 0.5


def follow(client: Client, job: JobOut, *, json_output: bool = False) -> JobOut:
    """Poll a job until it ends, with a progress bar on stderr; exit non-zero if it failed."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=json_output) as progress:
        task = progress.add_task(_describe(job), total=job.total or None)
        while job.state == "running":
            time.sleep(POLL_S)
            job = client.job(job.id)
            # A rebuild's total grows while live writes arrive; the ETA follows it.
            progress.update(task, description=_describe(job), total=max(job.total, 1), completed=job.done)
    show_job(job, json_output=json_output)
    if job.state != "done":
        raise typer.Exit(ExitCode.ERROR)
    return job


def _describe(job: JobOut) -> str:
    target = f" {job.generation}" if job.generation else ""
    return f"{job.kind} {job.read_model}{target}: {job.phase}"


def show_job(job: JobOut, *, json_output: bool = False) -> None:
    if json_output:
        emit(job)
        return
    if job.state == "failed":
        errors.print(f"[red]{job.kind} {job.id} failed: {job.error}[/red]", highlight=False)
        return
    line = f"[green]{job.kind} {job.state}[/green]: {job.done} records read"
    if job.kind == "replay":
        line += f", {job.applied} events re-applied, {job.skipped} left alone by the version guard"
    if job.generation:
        line += f"; generation {job.generation}" + (" is live" if job.kind == "rebuild" else "")
    console.print(line, highlight=False)
