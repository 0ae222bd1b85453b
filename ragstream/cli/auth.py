from __future__ import annotations

import typer
from rich.console import Console

from ragstream.auth import SCOPES
from ragstream.auth.keys import create_key, load_keys, revoke_key
from ragstream.settings import get_settings

app = typer.Typer(help="API keys for the command and query APIs (stored hashed).", no_args_is_help=True)
console = Console()


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
) -> None:
    """Create a key and print it once; only its SHA-256 hash is stored."""
    bad = set(scope) - SCOPES
    if bad:
        raise typer.BadParameter(f"unknown scope(s): {', '.join(sorted(bad))}")
    path = get_settings().auth.api_keys_file
    try:
        key = create_key(path, name=name, tenant=tenant, principals=principal, scopes=scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"[bold]{key}[/bold]\n(stored hashed in {path}; it cannot be shown again)")


@app.command("list-keys")
def list_keys() -> None:
    for record in load_keys(get_settings().auth.api_keys_file).values():
        console.print(f"{record.name}: tenant={record.tenant} scopes={','.join(record.scopes)} "
                      f"principals={','.join(record.principals) or '-'} created={record.created_at}")  # fmt: skip


@app.command("revoke-key")
def revoke(name: str) -> None:
    removed = revoke_key(get_settings().auth.api_keys_file, name)
    if not removed:
        console.print(f"[red]no key named {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {removed} key(s) named {name!r}")
