"""`ragstream login | logout | whoami | config`: profiles of URLs and credentials (ragstream.client.profiles)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from ragstream.cli.output import Col, ExitCode, console, emit, errors, json_option, print_table
from ragstream.cli.session import URL_HELP, open_session
from ragstream.client import Client, WhoAmI
from ragstream.client.profiles import (
    COMMAND_URL_ENV,
    DEFAULT_PROFILE,
    PROFILE_ENV,
    QUERY_URL_ENV,
    Profile,
    ProfileFile,
    config_path,
    load,
    local_urls,
    save,
)

config_app = typer.Typer(
    help="Profiles: the APIs' URLs and a credential (stored 0600; `config path` says where).",
    epilog="RAGSTREAM_PROFILE picks a profile; RAGSTREAM_QUERY_URL, RAGSTREAM_COMMAND_URL, RAGSTREAM_API_KEY"
    " and RAGSTREAM_TOKEN override its fields; RAGSTREAM_CONFIG moves the file.",
    no_args_is_help=True,
)
PROFILE_HELP = "Profile to write (default: --profile before the command, RAGSTREAM_PROFILE, the current one)."


class ProfileField(StrEnum):
    query_url = "query_url"
    command_url = "command_url"
    api_key = "api_key"
    token = "token"


@contextlib.contextmanager
def _editing() -> Iterator[tuple[Path, ProfileFile]]:
    """The profile file, saved (0600) when the block ends without an error."""
    path = config_path()
    stored = load(path)
    yield path, stored
    save(path, stored)


def _require(stored: ProfileFile, name: str, path: Path) -> None:
    if name not in stored.profiles:
        errors.print(f"[red]no profile {name!r} in {path}[/red]")
        raise typer.Exit(ExitCode.NOT_FOUND)


def mask(secret: str | None) -> str | None:
    return None if not secret else secret[:8] + "…"


def _target(ctx: typer.Context, profile: str | None, stored: ProfileFile) -> str:
    return profile or ctx.find_root().params.get("profile") or os.environ.get(PROFILE_ENV) or stored.current


def _describe(me: WhoAmI) -> str:
    principals = ", ".join(me.principals) or "none"
    return (
        f"{me.subject}: tenant {me.tenant}, scopes {', '.join(me.scopes) or 'none'}, principals {principals}"
    )


def login(
    ctx: typer.Context,
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
    query_url: str | None = typer.Option(None, help="Query API base URL to store."),
    command_url: str | None = typer.Option(None, help="Command API base URL to store."),
    api_key: str | None = typer.Option(
        None, envvar="RAGSTREAM_API_KEY", help="The API key (asked for, hidden, when not given)."
    ),
    token: str | None = typer.Option(None, help="A JWT instead of an API key.", envvar="RAGSTREAM_TOKEN"),
    verify: bool = typer.Option(True, help="Check the credential with both APIs' /v1/whoami first."),
    json_output: bool = json_option("Print who the credential is as JSON."),
) -> None:
    """Store a credential (and URLs) in a profile and make it the current one."""
    with _editing() as (path, stored):
        name = _target(ctx, profile, stored)
        if not api_key and not token:
            api_key = typer.prompt("API key", hide_input=True)
        old = stored.profiles.get(name, Profile())
        new = Profile(
            query_url=(query_url or old.query_url or "").rstrip("/") or None,
            command_url=(command_url or old.command_url or "").rstrip("/") or None,
            api_key=api_key or None,
            token=None if api_key else token,
        )
        me = _verify(new, query_url, command_url) if verify else None
        stored.profiles[name] = new
        stored.current = name
    if json_output:
        emit({"profile": name, "path": str(path), "whoami": me})
        return
    who = f" as {_describe(me)}" if me else ""
    console.print(f"profile {name!r}{who}; stored in {path} (mode 0600)", highlight=False)


def _verify(profile: Profile, query_url: str | None, command_url: str | None) -> WhoAmI:
    """Both APIs, where commands will find them, must know the credential (ClientError otherwise)."""
    default_query, default_command = local_urls()
    with Client(
        query_url or os.environ.get(QUERY_URL_ENV) or profile.query_url or default_query,
        command_url or os.environ.get(COMMAND_URL_ENV) or profile.command_url or default_command,
        api_key=profile.api_key, token=profile.token,
    ) as client:  # fmt: skip
        me = client.whoami("queries")
        if client.whoami("commands").tenant != me.tenant:
            errors.print("[yellow]the command API sees this credential with another tenant[/yellow]")
    return me


def logout(
    ctx: typer.Context, profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP)
) -> None:
    """Forget a profile's credential (its URLs stay)."""
    with _editing() as (path, stored):
        name = _target(ctx, profile, stored)
        _require(stored, name, path)
        stored.profiles[name] = stored.profiles[name].model_copy(update={"api_key": None, "token": None})
    console.print(f"profile {name!r}: credential removed", highlight=False)


def whoami(
    ctx: typer.Context,
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Who the configured credential is: subject, tenant, principals and scopes (from the query API)."""
    session = open_session(ctx, url=url)
    me = session.identity()
    c = session.connection
    if json_output:
        emit({**me.model_dump(), "profile": c.profile, "credential": c.credential_source or None,
              "query_url": c.query_url, "command_url": c.command_url})  # fmt: skip
        return
    console.print(_describe(me), highlight=False)
    source = c.credential_source or "no credential (auth off: the dev profile)"
    console.print(Text(f"credential from {source}; profile {c.profile!r}; query API {c.query_url}", "dim"))


@config_app.command("path")
def config_path_cmd() -> None:
    """Where the profiles are stored."""
    typer.echo(str(config_path()))


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """What a command would use now (profile and environment resolved); secrets are masked."""
    c = open_session(ctx, url=url).connection
    data: dict[str, Any] = {
        "profile": c.profile, "query_url": c.query_url, "command_url": c.command_url,
        "api_key": mask(c.api_key), "token": mask(c.token), "credential": c.credential_source or None,
        "path": str(config_path()),
    }  # fmt: skip
    if json_output:
        emit(data)
        return
    for key, value in data.items():
        console.print(f"{key}: {value if value is not None else '-'}", highlight=False)


@config_app.command("list")
def config_list(json_output: bool = json_option()) -> None:
    """Every stored profile (the current one marked *); secrets are masked."""
    stored = load(config_path())
    profiles = {
        name: {**p.model_dump(), "api_key": mask(p.api_key), "token": mask(p.token)}
        for name, p in sorted(stored.profiles.items())
    }
    if json_output:
        emit({"current": stored.current, "profiles": profiles})
        return
    cols = [Col("profile", 9), Col("query url", 5, wrap=True), Col("command url", 4, wrap=True),
            Col("credential", 6)]  # fmt: skip
    rows = [
        [name + (" *" if name == stored.current else ""), p["query_url"] or "-", p["command_url"] or "-",
         p["api_key"] or p["token"] or "-"]
        for name, p in profiles.items()
    ]  # fmt: skip
    if not rows:
        console.print(f"no profiles in {config_path()}", highlight=False)
        return
    print_table(cols, rows)


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    field: ProfileField,
    value: str,
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
) -> None:
    """Set one field of a profile (created if new)."""
    with _editing() as (_, stored):
        name = _target(ctx, profile, stored)
        old = stored.profiles.get(name, Profile())
        update: dict[str, Any] = {field.value: value.rstrip("/") if field.value.endswith("_url") else value}
        # One credential per profile: setting one clears the other.
        if field in (ProfileField.api_key, ProfileField.token):
            other = ProfileField.token if field is ProfileField.api_key else ProfileField.api_key
            update[other.value] = None
        stored.profiles[name] = old.model_copy(update=update)
        if len(stored.profiles) == 1:
            stored.current = name
    console.print(f"profile {name!r}: {field.value} set", highlight=False)


@config_app.command("unset")
def config_unset(
    ctx: typer.Context,
    field: ProfileField,
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
) -> None:
    """Clear one field of a profile."""
    with _editing() as (path, stored):
        name = _target(ctx, profile, stored)
        _require(stored, name, path)
        stored.profiles[name] = stored.profiles[name].model_copy(update={field.value: None})
    console.print(f"profile {name!r}: {field.value} unset", highlight=False)


@config_app.command("use")
def config_use(name: str) -> None:
    """Make a stored profile the current one."""
    with _editing() as (path, stored):
        _require(stored, name, path)
        stored.current = name
    console.print(f"current profile: {name}", highlight=False)


@config_app.command("remove")
def config_remove(name: str) -> None:
    """Delete a profile."""
    with _editing() as (path, stored):
        _require(stored, name, path)
        del stored.profiles[name]
        if stored.current == name:
            stored.current = next(iter(sorted(stored.profiles)), DEFAULT_PROFILE)
    console.print(f"removed profile {name!r}", highlight=False)
