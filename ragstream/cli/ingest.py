from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ragstream.commands.corpus import discover, file_command, pydoc_topic_commands
from ragstream.commands.exceptions import CommandError
from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import UpsertDocument
from ragstream.settings import get_settings

console = Console(stderr=True)


def ingest(
    paths: list[Path] = typer.Argument(None, help="Files or folders (text, Markdown, HTML)."),
    tenant: str = typer.Option("default", help="Tenant the documents belong to."),
    actor: str = typer.Option("ingest-cli", help="Recorded as the author of the change."),
    pydoc_topics: bool = typer.Option(False, help="Also ingest Python's bundled documentation topics."),
    batch: int = typer.Option(64, min=1, max=1000, help="Commands per Kafka batch."),
) -> None:
    """Write an upsert command for every document; the stream workers index them."""
    commands: list[UpsertDocument] = []
    failures = 0
    files, skipped = discover(paths or [])
    for s in skipped:
        console.print(f"[yellow]skipped {s.path}: {s.reason}[/yellow]")
    for file in files:
        root = next((p for p in paths if p.is_dir() and file.is_relative_to(p)), None)
        try:
            commands.append(file_command(file, root=root, tenant=tenant, actor=actor))
        except CommandError as exc:
            failures += 1
            console.print(f"[red]rejected {exc}[/red]")
    if pydoc_topics:
        commands.extend(pydoc_topic_commands(tenant=tenant, actor=actor))
    if not commands:
        console.print("[red]nothing to ingest[/red]")
        raise typer.Exit(1)
    started = time.perf_counter()
    asyncio.run(_send(commands, batch))
    console.print(f"wrote {len(commands)} command(s) in {time.perf_counter() - started:.1f}s")
    if failures:
        raise typer.Exit(2)


async def _send(commands: list[UpsertDocument], batch: int) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    async with CommandProducer(get_settings()) as producer:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("writing commands", total=len(commands))
            for i in range(0, len(commands), batch):
                chunk = commands[i : i + batch]
                await producer.send_many(chunk)
                progress.advance(task, len(chunk))
