"""`ragstream replay | rebuild | generations | audit | query-log`: the log as the source of truth.

Everything but `replay --offline` goes through the running query API, because the embedded indexes
have one writer, the query process; long jobs run there and are followed here by polling.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from ragstream.cli.adminclient import console, follow, request, show_job
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
    read_model: str = typer.Option("all", callback=_read_model, help=READ_MODEL_HELP),
    from_offset: int | None = typer.Option(None, min=0, help="Offset to start from in every partition."),
    from_time: str | None = typer.Option(None, help="ISO 8601 time to start from (offsets by timestamp)."),
    offline: bool = typer.Option(
        False, help="Replay into the generation on disk; only when no query API runs."
    ),
    url: str | None = typer.Option(None, help="Query API base URL."),
) -> None:
    """Re-apply the embeddings log to a query node's read models; idempotent (version-guarded)."""
    if from_offset is not None and from_time is not None:
        raise typer.BadParameter("give --from-offset or --from-time, not both")
    start = _parse_time(from_time) if from_time is not None else None
    if offline:
        _replay_offline(read_model, from_offset, start)
        return
    body: dict[str, Any] = {"read_model": read_model, "from_offset": from_offset}
    if start is not None:
        body["from_time"] = start.isoformat()
    follow(url, request("POST", url, "/v1/admin/replay", json=body))


def _replay_offline(read_model: str, from_offset: int | None, start: datetime | None) -> None:
    from ragstream.queries.admin.jobs import READ_MODEL_CHOICES, Job
    from ragstream.queries.admin.replay import replay_offline
    from ragstream.queries.readmodels.exceptions import IndexLockedError

    job = Job("replay", read_model)
    try:
        asyncio.run(replay_offline(get_settings(), job, READ_MODEL_CHOICES[read_model], from_offset, start))
    except IndexLockedError as exc:
        console.print(
            f"[red]the generation is open in a running query API; replay without --offline[/red]\n{exc}"
        )
        raise typer.Exit(1) from exc
    job.state, job.phase = "done", "done"
    show_job(vars(job))


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
    url: str | None = typer.Option(None, help="Query API base URL."),
    wait: bool = typer.Option(True, help="Follow the rebuild until it has swapped in."),
) -> None:
    """Build a new generation from the log while queries are served, then swap it in."""
    if ctx.invoked_subcommand is not None:
        return
    body = {
        "read_model": read_model,
        "embedding_model": embedding_model,
        "embedding_model_path": embedding_model_path,
        "chunk_max_tokens": chunk_max_tokens,
        "chunk_overlap_tokens": chunk_overlap_tokens,
        "chunk_min_tokens": chunk_min_tokens,
    }
    job = request("POST", url, "/v1/admin/rebuild", json=body)
    if wait:
        follow(url, job)
    else:
        console.print(f"rebuild {job['id']} building generation {job['generation'] or '(next)'}")


@rebuild_app.command("drop-old")
def drop_old(url: str | None = typer.Option(None, help="Query API base URL.")) -> None:
    """Delete every generation folder but the live one."""
    dropped = request("POST", url, "/v1/admin/generations/drop-old")["dropped"]
    console.print(f"dropped {', '.join(dropped)}" if dropped else "nothing to drop")


generations_app = typer.Typer(help="Index generations of a query node.", no_args_is_help=True)


@generations_app.command("list")
def generations_list(url: str | None = typer.Option(None, help="Query API base URL.")) -> None:
    """Generations on disk: which is live, how each was built, its size."""
    data = request("GET", url, "/v1/admin/generations")
    table = Table(
        "generation", "state", "origin", "embedding model", "created", "documents", "chunks", "size"
    )
    for g in data["generations"]:
        m, counts = g["manifest"] or {}, g.get("counts") or {}
        table.add_row(
            g["name"] + (" *" if g["current"] else ""), g["state"], m.get("origin", "?"),
            m.get("embedding_model", "?"), m.get("created_at", "?"), str(counts.get("documents", "")),
            str(counts.get("lexical", "")), f"{g['disk_bytes'] / 1e6:.1f} MB",
        )  # fmt: skip
    console.print(table)


@generations_app.command("drop")
def generations_drop(name: str, url: str | None = typer.Option(None, help="Query API base URL.")) -> None:
    """Delete one generation folder (never the live one)."""
    request("DELETE", url, f"/v1/admin/generations/{name}")
    console.print(f"dropped {name}")


@generations_app.command("retire-embeddings")
def generations_retire_embeddings(
    generation_id: str, url: str | None = typer.Option(None, help="Query API base URL.")
) -> None:
    """Stop the stream workers building an embedding generation (e.g. one a dropped rebuild asked for)."""
    request("DELETE", url, f"/v1/admin/embedding-generations/{generation_id}")
    console.print(f"retired embedding generation {generation_id}")


def audit(
    document_id: str,
    tenant: str = typer.Option("default"),
    principals: str = typer.Option("", help="Comma-separated principals, if the document has an ACL."),
    url: str | None = typer.Option(None, help="Query API base URL."),
) -> None:
    """Every command on a document, in log order, with actor and outcome; and what each read model holds."""
    headers = {"X-Tenant": tenant, "X-Principals": principals}
    doc = request("GET", url, f"/v1/documents/{document_id}", headers=headers)
    history = request("GET", url, f"/v1/documents/{document_id}/history", headers=headers)
    table = Table("#", "recorded", "change", "outcome", "version", "actor", "via", "reason", "position",
                  title=f"{tenant}/{document_id}: {doc['status']} v{doc['version']}")  # fmt: skip
    for i, e in enumerate(history["entries"], start=1):
        outcome = "[green]accepted[/green]" if e["outcome"] == "accepted" else "[red]rejected[/red]"
        table.add_row(
            str(i), e["recorded_time"][:19], e["event_type"], outcome, str(e["version"] or "-"), e["actor"],
            e["source"].get("via", ""), e["reason"], e["command_position"],
        )  # fmt: skip
    console.print(table)
    for name, held in sorted(doc["read_models"].items()):
        console.print(
            f"  {name}: v{held['version']}{' (deleted)' if held['deleted'] else ''} at {held['applied_at'][:19]}"
        )


def query_log(
    tenant: str | None = typer.Option(None, help="Only this tenant's queries."),
    limit: int = typer.Option(20, min=1, max=1000),
    url: str | None = typer.Option(None, help="Query API base URL."),
) -> None:
    """Who asked what, and which documents came back (newest first)."""
    data = request(
        "GET", url, "/v1/admin/query-log", params={"limit": limit, **({"tenant": tenant} if tenant else {})}
    )
    table = Table("asked", "tenant", "principals", "endpoint", "query", "documents", "ms")
    for e in data["entries"]:
        table.add_row(
            e["asked_at"][:19], e["tenant"], ",".join(e["principals"]), e["endpoint"], e["query"][:60],
            ", ".join(e["document_ids"][:5]), f"{e['latency_ms']:.0f}",
        )  # fmt: skip
    console.print(table)
