"""`ragstream blobs sweep`: the blob store's retention (blobs.retention_days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer

from ragstream.blobs import open_blob_store
from ragstream.cli.output import ExitCode, console, emit, errors, json_option
from ragstream.settings import get_settings

app = typer.Typer(help="The blob store of binary documents (claim checks).", no_args_is_help=True)


@app.command()
def sweep(
    days: int | None = typer.Option(
        None, "--days", min=1, help="Keep this many days (default: blobs.retention_days)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted, delete nothing."),
    json_output: bool = json_option(),
) -> None:
    """Delete blobs last written longer ago than the retention: commands older than that can no
    longer be replayed into new extractions (search and rebuilds never need blobs)."""
    settings = get_settings()
    keep = days or settings.blobs.retention_days
    if not keep:
        errors.print("blobs are kept forever (blobs.retention_days=0); give --days to sweep anyway")
        raise typer.Exit(ExitCode.USAGE)
    swept = open_blob_store(settings.blobs).sweep(datetime.now(UTC) - timedelta(days=keep), dry_run=dry_run)
    if json_output:
        emit({"retention_days": keep, "dry_run": dry_run, "swept": swept})
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {len(swept)} blob(s) last written over {keep} day(s) ago", highlight=False)
