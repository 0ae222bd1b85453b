"""`ragstream ingest`: files and folders as upsert commands, through the command API as the configured
credential (its tenant), or with --kafka straight onto the commands topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ragstream.cli.output import ExitCode, emit, errors, json_option
from ragstream.cli.session import TENANT_HELP, Session, open_session
from ragstream.client import DocumentIn
from ragstream.client.operations import batches
from ragstream.commands.corpus import discover, file_command, pydoc_topic_commands
from ragstream.commands.exceptions import CommandError
from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import UpsertDocument, WritePosition, consistency_token
from ragstream.settings import get_settings
from ragstream.topics import catalogue

COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="Files or folders (text, Markdown, HTML)."),
    tenant: str | None = typer.Option(None, help=TENANT_HELP + " With --kafka: the tenant written to."),
    actor: str | None = typer.Option(
        None,
        help="Recorded as the author with --kafka (default: ingest-cli) or auth off; a credential is its own.",
    ),
    pydoc_topics: bool = typer.Option(False, help="Also ingest Python's bundled documentation topics."),
    batch: int = typer.Option(64, min=1, max=256, help="Documents per request (or Kafka batch)."),
    kafka: bool = typer.Option(
        False,
        "--kafka",
        help="Produce to the commands topic directly (trusted, no credential checked) instead of"
        " going through the command API.",
    ),
    wait: bool = typer.Option(False, help="Return once every document is searchable."),
    wait_timeout: float = typer.Option(600.0, min=1, help="Seconds --wait waits at most."),
    url: str | None = typer.Option(
        None, help="Command API base URL (default: RAGSTREAM_COMMAND_URL, the profile, the local port)."
    ),
    json_output: bool = json_option("Print a JSON summary (tenant, route, counts, consistency token)."),
) -> None:
    """Write an upsert command for every document; the stream workers index them."""
    session = open_session(ctx, command_url=url, tenant=tenant, actor=None if kafka else actor)
    if kafka:
        # No API in the way: the tenant is --tenant, else the credential's, else "default".
        target = tenant or (
            session.acting_tenant("commands") if session.connection.has_credential else "default"
        )
        route = (
            f"Kafka topic {catalogue(get_settings().kafka.topic_prefix).commands.name} (directly, unchecked)"
        )
    else:
        me = session.identity("commands")
        target, route = (
            tenant or me.tenant,
            f"the command API at {session.connection.command_url} as {me.subject}",
        )
    commands, rejected = _commands(paths or [], target, actor or "ingest-cli", pydoc_topics)
    if not commands:
        errors.print("[red]nothing to ingest[/red]")
        raise typer.Exit(ExitCode.USAGE)
    errors.print(f"writing {len(commands)} document(s) to tenant {target!r} through {route}", highlight=False)
    started = time.perf_counter()
    positions = asyncio.run(_produce(commands, batch)) if kafka else _post(session, commands, batch)
    token = consistency_token(positions)
    errors.print(f"wrote {len(commands)} command(s) in {time.perf_counter() - started:.1f}s", highlight=False)
    if wait:
        with Progress(TextColumn("waiting until searchable…"), console=errors, transient=True) as progress:
            progress.add_task("wait")
            session.client.wait_searchable(token, timeout_s=wait_timeout)
        errors.print("searchable")
    if json_output:
        emit({"tenant": target, "via": "kafka" if kafka else "command-api", "written": len(commands),
              "rejected": rejected, "consistency_token": token, "searchable": wait})  # fmt: skip
    if rejected:
        raise typer.Exit(ExitCode.ERROR)


def _commands(
    paths: list[Path], tenant: str, actor: str, pydoc_topics: bool
) -> tuple[list[UpsertDocument], list[str]]:
    commands: list[UpsertDocument] = []
    rejected: list[str] = []
    files, skipped = discover(paths)
    for s in skipped:
        errors.print(f"[yellow]skipped {s.path}: {s.reason}[/yellow]")
    for file in files:
        root = next((p for p in paths if p.is_dir() and file.is_relative_to(p)), None)
        try:
            commands.append(file_command(file, root=root, tenant=tenant, actor=actor))
        except CommandError as exc:
            rejected.append(str(exc))
            errors.print(f"[red]rejected {exc}[/red]")
    if pydoc_topics:
        commands.extend(pydoc_topic_commands(tenant=tenant, actor=actor))
    return commands, rejected


def _documents(commands: list[UpsertDocument]) -> Iterator[DocumentIn]:
    fields = set(DocumentIn.model_fields)
    for command in commands:
        yield DocumentIn.model_validate(command.model_dump(include=fields))


def _post(session: Session, commands: list[UpsertDocument], batch: int) -> list[WritePosition]:
    positions: list[WritePosition] = []
    with Progress(*COLUMNS, console=errors) as progress:
        task = progress.add_task("writing documents", total=len(commands))
        for chunk in batches(_documents(commands), batch):
            written = session.client.upsert(chunk, batch_size=batch)
            positions.extend(c.position for c in written.commands)
            progress.advance(task, len(chunk))
    return positions


async def _produce(commands: list[UpsertDocument], batch: int) -> list[WritePosition]:
    positions: list[WritePosition] = []
    async with CommandProducer(get_settings()) as producer:
        with Progress(*COLUMNS, console=errors) as progress:
            task = progress.add_task("writing commands", total=len(commands))
            for i in range(0, len(commands), batch):
                chunk = commands[i : i + batch]
                positions.extend(w.position for w in await producer.send_many(chunk))
                progress.advance(task, len(chunk))
    return positions
