"""`ragstream connectors`: point ragstream at a database table (Debezium on Kafka Connect)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import typer

from ragstream.cli.output import Col, console, emit, json_option, print_table
from ragstream.kafka import create_topics
from ragstream.settings import Settings, get_settings
from ragstream.streams.cdc.connect import ConnectClient
from ragstream.streams.cdc.connector import (
    Database,
    cdc_topic,
    database_for,
    redacted,
    render_config,
    resolve_password,
)
from ragstream.streams.cdc.exceptions import CdcError
from ragstream.streams.cdc.mapping import CdcMapping, load_mapping, load_mappings
from ragstream.streams.cdc.pg import drop_slot, inspect_table, readiness, set_replica_identity_full

app = typer.Typer(
    help="Database tables as document sources: Debezium connectors on Kafka Connect.", no_args_is_help=True
)
# Where stream workers find the mapping files: a JSON list of files or folders.
MAPPINGS_ENV = "RAGSTREAM_CDC__MAPPINGS"

_DEFAULT_URL = f"http://127.0.0.1:{os.environ.get('RAGSTREAM_STACK__CONNECT_PORT', '18083')}"
_URL_HELP = "Kafka Connect REST API (env RAGSTREAM_CONNECT__URL)."


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _load(file: Path) -> CdcMapping:
    try:
        return load_mapping(file)
    except CdcError as exc:
        raise _fail(str(exc)) from exc


def _check_table(mapping: CdcMapping, db: Database) -> bool:
    """Prints what would break; False when the connector cannot work as mapped."""
    try:
        report = asyncio.run(inspect_table(db, mapping.schema_name, mapping.table_name))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        console.print(f"[yellow]could not check {mapping.table} at {db.host}:{db.port}: {exc}[/yellow]")
        return True
    errors, warnings = readiness(mapping, report)
    for warning in warnings:
        console.print(f"[yellow]warning: {warning}[/yellow]")
    for error in errors:
        console.print(f"[red]error: {error}[/red]")
    return not errors


def _state_line(status: dict[str, Any]) -> str:
    tasks = status.get("tasks", [])
    task_states = ", ".join(f"task {t.get('id')} {t.get('state')}" for t in tasks) or "no tasks yet"
    return f"{status.get('connector', {}).get('state', '?')} ({task_states})"


def _trace(status: dict[str, Any]) -> str:
    for part in [status.get("connector", {}), *status.get("tasks", [])]:
        if part.get("trace"):
            return "\n".join(str(part["trace"]).splitlines()[:8])
    return ""


@app.command()
def apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Mapping file (YAML)."),
    connect_url: str = typer.Option(_DEFAULT_URL, envvar="RAGSTREAM_CONNECT__URL", help=_URL_HELP),
    check: bool = typer.Option(True, help="Check the table (columns, replica identity, wal_level) first."),
    replica_identity_full: bool = typer.Option(
        False,
        help="ALTER the table to REPLICA IDENTITY FULL first (needs its owner), so changes carry every column.",
    ),
    wait: float = typer.Option(60, help="Seconds to wait for the connector to run; 0: do not wait."),
) -> None:
    """Create or update the table's Debezium connector; applying the same file again changes nothing."""
    settings = get_settings()
    mapping = _load(file)
    try:
        config = render_config(mapping, settings)
        db = database_for(mapping, settings)
    except CdcError as exc:
        raise _fail(str(exc)) from exc
    if replica_identity_full:
        try:
            asyncio.run(set_replica_identity_full(db, mapping.schema_name, mapping.table_name))
        except (OSError, asyncpg.PostgresError) as exc:
            raise _fail(f"could not set REPLICA IDENTITY FULL on {mapping.table}: {exc}") from exc
        console.print(f"{mapping.table}: REPLICA IDENTITY FULL")
    if check and not _check_table(mapping, db):
        raise _fail("not applied; fix the errors above or pass --no-check")
    topic = cdc_topic(mapping, settings)
    # Created here too (the connector would), so its settings match what the stream worker expects.
    asyncio.run(create_topics(settings.kafka, [topic]))
    try:
        with ConnectClient(connect_url) as client:
            if client.config(mapping.name) == config:
                console.print(f"connector {mapping.name}: unchanged")
            else:
                created = client.status(mapping.name) is None
                client.put_config(mapping.name, config)
                console.print(f"connector {mapping.name}: {'created' if created else 'updated'}")
            if wait > 0:
                status = client.wait_state(mapping.name, frozenset({"RUNNING"}), timeout=wait)
                console.print(f"state: {_state_line(status)}")
                if (trace := _trace(status)) or "FAILED" in _state_line(status):
                    raise _fail(f"the connector failed:\n{trace}")
    except CdcError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"change events of {mapping.table} go to topic {topic.name}")
    console.print(f"stream workers need the mapping: {MAPPINGS_ENV}='{json.dumps([str(file.resolve())])}'")


@app.command()
def render(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Mapping file (YAML)."),
) -> None:
    """Print the connector config `apply` would send (password hidden)."""
    mapping = _load(file)
    try:
        config = render_config(mapping, get_settings())
    except CdcError as exc:
        raise _fail(str(exc)) from exc
    console.print_json(json.dumps(redacted(config)))


@app.command()
def status(
    connect_url: str = typer.Option(_DEFAULT_URL, envvar="RAGSTREAM_CONNECT__URL", help=_URL_HELP),
    json_output: bool = json_option("Print Kafka Connect's status of every connector as JSON."),
) -> None:
    """Every connector on the Connect cluster, with its tasks' state."""
    try:
        with ConnectClient(connect_url, attempts=2) as client:
            statuses = client.statuses()
    except CdcError as exc:
        raise _fail(str(exc), 2) from exc
    if json_output:
        emit(statuses)
    elif statuses:
        rows = []
        for name, st in sorted(statuses.items()):
            tasks = ", ".join(str(t.get("state")) for t in st.get("tasks", [])) or "-"
            error = _trace(st).splitlines()[:1]
            rows.append(
                [name, str(st.get("connector", {}).get("state", "?")), tasks, error[0] if error else ""]
            )
        cols = [Col("connector", 9), Col("state", 8), Col("tasks", 5, wrap=True),
                Col("error", 6, wrap=True, min_width=20)]  # fmt: skip
        print_table(cols, rows)
    else:
        console.print("no connectors")
    if any("FAILED" in _state_line(st) for st in statuses.values()):
        raise typer.Exit(1)


@app.command()
def delete(
    name: str = typer.Argument(..., help="Connector name (the mapping's `name`)."),
    connect_url: str = typer.Option(_DEFAULT_URL, envvar="RAGSTREAM_CONNECT__URL", help=_URL_HELP),
    keep_slot: bool = typer.Option(
        False, help="Keep the replication slot, publication and offsets (PostgreSQL keeps WAL for the slot)."
    ),
) -> None:
    """Delete the connector, its offsets, replication slot and publication. Indexed documents stay."""
    try:
        with ConnectClient(connect_url) as client:
            config = client.config(name)
            if config is None or not client.delete(name, reset_offsets=not keep_slot):
                raise _fail(f"no connector {name}")
        console.print(f"connector {name}: deleted")
        if not keep_slot and config.get("slot.name"):
            db = Database(
                host=config.get("database.hostname", "127.0.0.1"), port=int(config.get("database.port", "5432")),
                user=config.get("database.user", ""),
                password=resolve_password(config.get("database.password", ""), get_settings()),
                database=config.get("database.dbname", ""),
            )  # fmt: skip
            slot = config["slot.name"]
            try:
                dropped = asyncio.run(drop_slot(db, slot, config.get("publication.name")))
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                raise _fail(
                    f"could not drop replication slot {slot} at {db.host}:{db.port}/{db.database}: {exc}\n"
                    f"PostgreSQL keeps WAL for it until `SELECT pg_drop_replication_slot('{slot}')` runs there"
                ) from exc
            console.print(f"replication slot {slot}: {'dropped' if dropped else 'none found'}")
    except CdcError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def worker(
    files: list[Path] = typer.Argument(None, help=f"Mapping files or folders (default: {MAPPINGS_ENV})."),
    web_port: int = typer.Option(
        None, help="Port of the worker's web pages (default: streams.web_port + 1)."
    ),
    loglevel: str = typer.Option("WARNING", help="Log level of the worker."),
) -> None:
    """Run only the CDC processor (change events -> commands), for stream workers started without mappings."""
    import faust

    from ragstream.observability.logging import configure_logging, logging_config
    from ragstream.streams.cdc.processor import create_cdc_app

    settings: Settings = get_settings()
    try:
        mappings = load_mappings(files or settings.cdc.mappings)
    except CdcError as exc:
        raise _fail(str(exc)) from exc
    if not mappings:
        raise _fail(f"no mappings: pass mapping files or set {MAPPINGS_ENV}")
    configure_logging(loglevel)
    port = web_port or settings.streams.web_port + 1
    settings = settings.model_copy(update={"streams": settings.streams.model_copy(update={"web_port": port})})
    cdc_app = create_cdc_app(settings, mappings)
    faust.Worker(
        cdc_app, loglevel=loglevel.upper(), quiet=True, logging_config=logging_config(loglevel)
    ).execute_from_commandline()


if __name__ == "__main__":
    app()
