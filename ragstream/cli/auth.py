from __future__ import annotations

from dataclasses import asdict

import typer

from ragstream.auth import SCOPES
from ragstream.auth.keys import create_key, load_keys, revoke_key
from ragstream.cli.output import Col, ExitCode, console, emit, errors, json_option, print_table
from ragstream.settings import get_settings

app = typer.Typer(help="API keys for the command and query APIs (stored hashed).", no_args_is_help=True)


@app.command("create-key")
def create(
    name: str = typer.Option(..., help="A name to recognise (and revoke) the key by."),
    tenant: str = typer.Option(..., help="The only tenant this key acts for."),
    principal: list[str] = typer.Option([], help="user:… or group:… entries the key may read as (repeat)."),
    scope: list[str] = typer.Option(
        ["read"],
        help="read (search, answer, documents), write (commands), admin (its tenant's query log, replays"
        " and jobs) and/or operator (what spans tenants: rebuilds, generations, every tenant's log;"
        " never granted unless asked for) (repeat).",
    ),
    json_output: bool = json_option("Print the key with its name, tenant, principals and scopes as JSON."),
) -> None:
    """Create a key and print it once (alone on stdout, so `KEY=$(ragstream auth create-key ...)`
    works); only its SHA-256 hash is stored."""
    bad = set(scope) - SCOPES
    if bad:
        raise typer.BadParameter(f"unknown scope(s): {', '.join(sorted(bad))}")
    path = get_settings().auth.api_keys_file
    try:
        key = create_key(path, name=name, tenant=tenant, principals=principal, scopes=scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if json_output:
        emit({"key": key, "name": name, "tenant": tenant, "principals": principal, "scopes": scope})
    else:
        typer.echo(key)
    errors.print(f"(stored hashed in {path}; it cannot be shown again)", highlight=False)


@app.command("list-keys")
def list_keys(json_output: bool = json_option()) -> None:
    """Every key's name, tenant, scopes and principals (never the key)."""
    records = list(load_keys(get_settings().auth.api_keys_file).values())
    if json_output:
        emit([asdict(r) for r in records])
        return
    cols = [Col("name", 9), Col("tenant", 8), Col("scopes", 7, wrap=True), Col("principals", 5, wrap=True),
            Col("created", 3)]  # fmt: skip
    rows = [[r.name, r.tenant, ",".join(r.scopes), ",".join(r.principals) or "-", r.created_at[:19]]
            for r in records]  # fmt: skip
    print_table(cols, rows)


@app.command("revoke-key")
def revoke(name: str) -> None:
    removed = revoke_key(get_settings().auth.api_keys_file, name)
    if not removed:
        errors.print(f"[red]no key named {name!r}[/red]")
        raise typer.Exit(ExitCode.NOT_FOUND)
    console.print(f"revoked {removed} key(s) named {name!r}")
