"""`ragstream replay | rebuild | generations | audit | query-log`: the log as the source of truth.

Everything but `replay --offline` goes through the running query API, because the embedded indexes
have one writer, the query process; long jobs run there and are followed here by polling.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime

import typer

from ragstream.cli.adminclient import follow, show_job
from ragstream.cli.output import Col, console, emit, errors, json_option, print_table
from ragstream.cli.session import PRINCIPALS_HELP, TENANT_HELP, URL_HELP, open_session
from ragstream.client import DocumentRecord, JobOut, NotFound, RebuildIn, ReplayIn
from ragstream.settings import get_settings

READ_MODEL_HELP = "lexical, vector or all"


def _read_model(value: str) -> str:
    if value not in ("lexical", "vector", "all"):
        raise typer.BadParameter(f"read model must be {READ_MODEL_HELP}")
    return value


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not ISO 8601 (e.g. 2025-01-31T12:00:00Z)") from exc
    # A time without a zone is read as UTC, like the log's timestamps.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def replay(
    ctx: typer.Context,
    read_model: str = typer.Option("all", callback=_read_model, help=READ_MODEL_HELP),
    from_offset: int | None = typer.Option(None, min=0, help="Offset to start from in every partition."),
    from_time: str | None = typer.Option(None, help="ISO 8601 time to start from (offsets by timestamp)."),
    offline: bool = typer.Option(
        False, help="Replay into the generation on disk; only when no query API runs."
    ),
    all_tenants: bool | None = typer.Option(
        None,
        "--all-tenants/--own-tenant",
        help="Every tenant's documents (operator) or the credential's own; default: every tenant's"
        " for an operator.",
    ),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option("Print the finished job as JSON."),
) -> None:
    """Re-apply the embeddings log to a query node's read models; idempotent (version-guarded)."""
    if from_offset is not None and from_time is not None:
        raise typer.BadParameter("give --from-offset or --from-time, not both")
    start = _parse_time(from_time) if from_time is not None else None
    if offline:
        _replay_offline(read_model, from_offset, start, json_output)
        return
    client = open_session(ctx, url=url).client
    body = ReplayIn(read_model=read_model, all_tenants=all_tenants, from_offset=from_offset, from_time=start)  # type: ignore[arg-type]
    follow(client, client.replay(body), json_output=json_output)


def _replay_offline(
    read_model: str, from_offset: int | None, start: datetime | None, json_output: bool
) -> None:
    from ragstream.queries.admin.jobs import READ_MODEL_CHOICES, Job
    from ragstream.queries.admin.replay import replay_offline
    from ragstream.queries.readmodels.exceptions import IndexLockedError

    job = Job("replay", read_model)
    try:
        asyncio.run(replay_offline(get_settings(), job, READ_MODEL_CHOICES[read_model], from_offset, start))
    except IndexLockedError as exc:
        errors.print(
            f"[red]the generation is open in a running query API; replay without --offline[/red]\n{exc}"
        )
        raise typer.Exit(1) from exc
    job.state, job.phase = "done", "done"
    show_job(JobOut.model_validate(asdict(job)), json_output=json_output)


rebuild_app = typer.Typer(
    help="Blue/green rebuild of a query node's read models from the log.", invoke_without_command=True
)


@rebuild_app.callback()
def rebuild(
    ctx: typer.Context,
    read_model: str = typer.Option("all", callback=_read_model, help=READ_MODEL_HELP),
    embedding_model: str | None = typer.Option(
        None, help="Re-embed with this model (default: the stored one)."
    ),
    embedding_model_path: str | None = typer.Option(None, help="Folder of that model on the query node."),
    chunk_max_tokens: int | None = typer.Option(
        None, min=1, help="Re-chunk with this budget (events topic)."
    ),
    chunk_overlap_tokens: int | None = typer.Option(None, min=0, help="Overlap of the new chunker."),
    chunk_min_tokens: int | None = typer.Option(None, min=0, help="Smallest section of the new chunker."),
    chunk_tokenizer: str | None = typer.Option(
        None, help="What the new budgets count: model (the model's tokens) or estimate."
    ),
    embedding_backend: str | None = typer.Option(
        None, help="Encoder backend of the re-embedding: auto, onnx-fp32, torch-fp32, torch-bf16, onnx-int8."
    ),
    url: str | None = typer.Option(None, help=URL_HELP),
    wait: bool = typer.Option(True, help="Follow the rebuild until it has swapped in."),
    json_output: bool = json_option("Print the job as JSON (finished, or as started with --no-wait)."),
) -> None:
    """Build a new generation from the log while queries are served, then swap it in."""
    if ctx.invoked_subcommand is not None:
        return
    body = RebuildIn(
        read_model=read_model,  # type: ignore[arg-type]
        embedding_model=embedding_model,
        embedding_model_path=embedding_model_path,
        chunk_max_tokens=chunk_max_tokens,
        chunk_overlap_tokens=chunk_overlap_tokens,
        chunk_min_tokens=chunk_min_tokens,
        chunk_tokenizer=chunk_tokenizer,  # type: ignore[arg-type]
        embedding_backend=embedding_backend,  # type: ignore[arg-type]
    )
    client = open_session(ctx, url=url).client
    job = client.rebuild(body)
    if wait:
        follow(client, job, json_output=json_output)
    elif json_output:
        emit(job)
    else:
        console.print(f"rebuild {job.id} building generation {job.generation or '(next)'}")


@rebuild_app.command("drop-old")
def drop_old(
    ctx: typer.Context,
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Delete every generation folder but the live one."""
    _dropped(open_session(ctx, url=url).client.drop_old_generations(), json_output)


def _dropped(result: dict[str, list[str]], json_output: bool) -> None:
    if json_output:
        emit(result)
        return
    dropped = result["dropped"]
    console.print(f"dropped {', '.join(dropped)}" if dropped else "nothing to drop")


generations_app = typer.Typer(help="Index generations of a query node.", no_args_is_help=True)


@generations_app.command("list")
def generations_list(
    ctx: typer.Context,
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Generations on disk: which is live, how each was built, its size."""
    data = open_session(ctx, url=url).client.generations()
    if json_output:
        emit(data)
        return
    cols = [
        Col("generation", 9), Col("state", 8), Col("origin", 3), Col("embedding model", 4, wrap=True),
        Col("created", 2), Col("documents", 6, justify="right"), Col("chunks", 5, justify="right"),
        Col("size", 7, justify="right"),
    ]  # fmt: skip
    rows = []
    for g in data["generations"]:
        m, counts = g["manifest"] or {}, g.get("counts") or {}
        rows.append([
            g["name"] + (" *" if g["current"] else ""), g["state"], m.get("origin", "?"),
            m.get("embedding_model", "?"), str(m.get("created_at", "?"))[:19], str(counts.get("documents", "")),
            str(counts.get("lexical", "")), f"{g['disk_bytes'] / 1e6:.1f} MB",
        ])  # fmt: skip
    print_table(cols, rows)


@generations_app.command("drop")
def generations_drop(
    ctx: typer.Context,
    name: str,
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Delete one generation folder (never the live one)."""
    _dropped(open_session(ctx, url=url).client.drop_generation(name), json_output)


@generations_app.command("retire-embeddings")
def generations_retire_embeddings(
    ctx: typer.Context,
    generation_id: str,
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Stop the stream workers building an embedding generation (e.g. one a dropped rebuild asked for)."""
    result = open_session(ctx, url=url).client.retire_embedding_generation(generation_id)
    if json_output:
        emit(result)
    else:
        console.print(f"retired embedding generation {generation_id}")


def audit(
    ctx: typer.Context,
    document_id: str,
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    principals: str = typer.Option("", help=PRINCIPALS_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Every command on a document, in log order, with actor and outcome; and what each read model holds."""
    session = open_session(ctx, url=url, tenant=tenant, principals=principals)
    history = session.client.history(document_id)
    try:
        doc: DocumentRecord | None = session.client.get_document(document_id)
    except NotFound:  # only rejected or failed commands, e.g. an unreadable file: the history says why
        doc = None
    if json_output:
        emit({"document": doc, "history": history.entries})
        return
    cols = [
        Col("#", 9, justify="right"), Col("recorded", 6), Col("change", 8), Col("outcome", 8),
        Col("version", 7, justify="right"), Col("actor", 7, wrap=True), Col("via", 2),
        Col("reason", 5, wrap=True), Col("position", 1),
    ]  # fmt: skip
    rows = [
        [str(i), e.recorded_time.isoformat()[:19], e.event_type,
         "[green]accepted[/green]" if e.outcome == "accepted" else f"[red]{e.outcome}[/red]",
         str(e.version or "-"), e.actor, e.source.get("via", ""), e.reason, e.command_position]
        for i, e in enumerate(history.entries, start=1)
    ]  # fmt: skip
    title = (
        f"{doc.tenant}/{document_id}: {doc.status} v{doc.version}"
        if doc
        else f"{document_id}: never accepted"
    )
    print_table(cols, rows, title=title)
    for name, held in sorted(doc.read_models.items() if doc else []):
        console.print(
            f"  {name}: v{held.version}{' (deleted)' if held.deleted else ''} at {held.applied_at.isoformat()[:19]}",
            highlight=False,
        )


def query_log(
    ctx: typer.Context,
    tenant: str | None = typer.Option(
        None, help="Only this tenant's queries (default: the credential's; an operator's: every tenant's)."
    ),
    limit: int = typer.Option(20, min=1, max=1000),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Who asked what, and which documents came back (newest first)."""
    data = open_session(ctx, url=url).client.query_log(tenant=tenant, limit=limit)
    if json_output:
        emit(data)
        return
    cols = [
        Col("asked", 8), Col("tenant", 4), Col("principals", 3, wrap=True), Col("endpoint", 5),
        Col("query", 9, wrap=True, min_width=16), Col("documents", 6, wrap=True), Col("ms", 2, justify="right"),
    ]  # fmt: skip
    rows = [
        [str(e["asked_at"])[:19], e["tenant"], ",".join(e["principals"]), e["endpoint"], e["query"][:200],
         ", ".join(e["document_ids"][:5]), f"{e['latency_ms']:.0f}"]
        for e in data["entries"]
    ]  # fmt: skip
    print_table(cols, rows)
