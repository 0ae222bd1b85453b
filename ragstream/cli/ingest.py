"""`ragstream ingest`: files and folders as upsert commands, through the command API as the configured
credential (its tenant), or with --kafka straight onto the commands topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ragstream.cli.output import ExitCode, emit, errors, json_option
from ragstream.cli.session import TENANT_HELP, Session, open_session
from ragstream.client import CommandAccepted, CommandOutcome, DocumentIn
from ragstream.client.operations import batches
from ragstream.commands.corpus import BinaryFile, discover, file_command, is_binary_file, pydoc_topic_commands
from ragstream.commands.exceptions import CommandError
from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import UpsertDocument, consistency_token
from ragstream.settings import get_settings
from ragstream.topics import catalogue

# The reason the pipeline gives an unchanged re-ingest: not an error for ingest.
UNCHANGED = "unchanged"
COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        None, help="Files or folders (text, Markdown, HTML; PDF, DOCX, PPTX, XLSX, EML sent as files)."
    ),
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
    wait: bool = typer.Option(
        False,
        help="Return once every document is searchable, and say which were rejected and why (the query"
        " API's event stream of each write; needs the `read` scope).",
    ),
    wait_timeout: float = typer.Option(600.0, min=1, help="Seconds --wait waits at most, in all."),
    reindex: bool = typer.Option(
        False,
        "--reindex",
        help="Process every document again, unchanged ones too (a version that failed downstream"
        " is otherwise rejected as unchanged when sent again).",
    ),
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
    commands, files, rejected = _commands(paths or [], target, actor or "ingest-cli", pydoc_topics)
    if reindex:
        commands = [command.model_copy(update={"reindex": True}) for command in commands]
    total = len(commands) + len(files)
    if not total:
        errors.print("[red]nothing to ingest[/red]")
        raise typer.Exit(ExitCode.USAGE)
    errors.print(f"writing {total} document(s) to tenant {target!r} through {route}", highlight=False)
    started = time.perf_counter()
    if kafka:
        written = asyncio.run(_produce(commands, files, batch, target, actor or "ingest-cli", reindex))
    else:
        written = _post(session, commands, batch) + _upload(session, files, reindex)
    token = consistency_token(w.position for w in written)
    errors.print(f"wrote {total} command(s) in {time.perf_counter() - started:.1f}s", highlight=False)
    outcomes = _wait(session, written, wait_timeout) if wait else None
    # Searchable: every write is (or was unchanged), as the query API's event streams said.
    searchable = outcomes is not None and not (
        outcomes["rejected"] or outcomes["failed"] or outcomes["timed_out"]
    )
    if json_output:
        emit({"tenant": target, "via": "kafka" if kafka else "command-api", "written": total,
              "rejected": rejected, "consistency_token": token, "searchable": searchable, "files": len(files),
              **({"outcomes": outcomes} if outcomes is not None else {})})  # fmt: skip
    if rejected or (wait and not searchable):
        raise typer.Exit(ExitCode.ERROR)


def _wait(session: Session, written: list[CommandAccepted], timeout_s: float) -> dict[str, Any]:
    """Each write's outcome from the query API's event stream: searchable, unchanged (an
    idempotent re-ingest, fine), rejected with the reason, failed on the way to the indexes
    (dead-lettered, with the processor and reason), or still not searchable at the end."""
    deadline = time.monotonic() + timeout_s
    outcomes: list[CommandOutcome] = []
    columns = (TextColumn("waiting until searchable"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("wait", total=len(written))
        for command in written:
            left = max(1.0, deadline - time.monotonic())
            outcomes.append(session.client.wait_for(command, timeout_s=left))
            progress.advance(task)
    unchanged = [o for o in outcomes if o.outcome == "rejected" and o.reason.startswith(UNCHANGED)]
    refused = [
        f"{o.document_id}: {o.reason}" for o in outcomes if o.outcome == "rejected" and o not in unchanged
    ]
    failed = [f"{o.document_id}: {o.reason}" for o in outcomes if o.outcome == "failed"]
    timed_out = [o.document_id for o in outcomes if o.outcome == "timeout"]
    for line in refused:
        errors.print(f"[red]rejected {line}[/red]", highlight=False)
    for line in failed:
        errors.print(f"[red]failed {line}[/red]", highlight=False)
    if timed_out:
        errors.print(f"[red]not searchable within {timeout_s:g}s: {', '.join(timed_out[:10])}[/red]")
    searchable = sum(o.outcome == "searchable" for o in outcomes)
    errors.print(
        f"searchable: {searchable}, unchanged: {len(unchanged)}, rejected: {len(refused)}, failed: {len(failed)}",
        highlight=False,
    )
    return {
        "searchable": searchable,
        "unchanged": len(unchanged),
        "rejected": refused,
        "failed": failed,
        "timed_out": timed_out,
    }


def _commands(
    paths: list[Path], tenant: str, actor: str, pydoc_topics: bool
) -> tuple[list[UpsertDocument], list[BinaryFile], list[str]]:
    commands: list[UpsertDocument] = []
    binaries: list[BinaryFile] = []
    rejected: list[str] = []
    files, skipped = discover(paths)
    for s in skipped:
        errors.print(f"[yellow]skipped {s.path}: {s.reason}[/yellow]")
    for file in files:
        root = next((p for p in paths if p.is_dir() and file.is_relative_to(p)), None)
        if is_binary_file(file):
            binaries.append(BinaryFile.of(file, root))
            continue
        try:
            commands.append(file_command(file, root=root, tenant=tenant, actor=actor))
        except CommandError as exc:
            rejected.append(str(exc))
            errors.print(f"[red]rejected {exc}[/red]")
    if pydoc_topics:
        commands.extend(pydoc_topic_commands(tenant=tenant, actor=actor))
    return commands, binaries, rejected


def _documents(commands: list[UpsertDocument]) -> Iterator[DocumentIn]:
    fields = set(DocumentIn.model_fields)
    for command in commands:
        yield DocumentIn.model_validate(command.model_dump(include=fields))


def _post(session: Session, commands: list[UpsertDocument], batch: int) -> list[CommandAccepted]:
    accepted: list[CommandAccepted] = []
    with Progress(*COLUMNS, console=errors) as progress:
        task = progress.add_task("writing documents", total=len(commands))
        for chunk in batches(_documents(commands), batch):
            accepted.extend(session.client.upsert(chunk, batch_size=batch).commands)
            progress.advance(task, len(chunk))
    return accepted


def _upload(session: Session, files: list[BinaryFile], reindex: bool) -> list[CommandAccepted]:
    """One request per file (raw bytes, its content type); the API decides inline or blob store."""
    accepted: list[CommandAccepted] = []
    with Progress(*COLUMNS, console=errors) as progress:
        task = progress.add_task("sending files", total=len(files))
        for file in files:
            written = session.client.upload(
                file.document_id, file.path.read_bytes(), file.content_type.value, title=file.path.stem,
                metadata={"source": "file", "path": file.document_id[:1024]}, reindex=reindex,
            )  # fmt: skip
            accepted.extend(written.commands)
            progress.advance(task)
    return accepted


async def _produce(
    commands: list[UpsertDocument],
    files: list[BinaryFile],
    batch: int,
    tenant: str,
    actor: str,
    reindex: bool,
) -> list[CommandAccepted]:
    """The commands written to Kafka, described as the command API would have answered."""
    accepted: list[CommandAccepted] = []
    async with CommandProducer(get_settings()) as producer:
        for file in files:
            # Large files go to the blob store first; this process must share it with the workers.
            expanded = await producer.file_commands(
                document_id=file.document_id, data=file.path.read_bytes(), content_type=file.content_type,
                tenant=tenant, actor=actor, title=file.path.stem,
                metadata={"source": "file", "path": file.document_id[:1024]},
                source={"via": "ingest-cli", "path": str(file.path)[:1024]}, reindex=reindex,
            )  # fmt: skip
            commands.extend(expanded)
        with Progress(*COLUMNS, console=errors) as progress:
            task = progress.add_task("writing commands", total=len(commands))
            for i in range(0, len(commands), batch):
                chunk = commands[i : i + batch]
                accepted.extend(
                    CommandAccepted(command_id=w.command_id, document_id=w.document_id, position=w.position,
                                    consistency_token=w.position.token)
                    for w in await producer.send_bulk(chunk)
                )  # fmt: skip
                progress.advance(task, len(chunk))
    return accepted
