"""Where a client finds the APIs and its credential: profiles in a file, overridden by the environment.

The file (`$RAGSTREAM_CONFIG`, default `$XDG_CONFIG_HOME/ragstream/profiles.json`, i.e.
`~/.config/ragstream/profiles.json`) holds named profiles, each with the query and command API URLs
and an API key or a JWT; it is written with mode 0600 in a 0700 folder, since it holds secrets.

What wins, field by field: an explicit argument (a CLI option), then the environment
(`RAGSTREAM_QUERY_URL`, `RAGSTREAM_COMMAND_URL`, `RAGSTREAM_API_KEY` or `RAGSTREAM_TOKEN`), then the
profile (`RAGSTREAM_PROFILE`, else the file's current one), then the local defaults (the ports in
the settings, `api.query_port` and `api.command_port`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragstream.client.errors import ClientError
from ragstream.settings import get_settings

CONFIG_ENV = "RAGSTREAM_CONFIG"
PROFILE_ENV = "RAGSTREAM_PROFILE"
QUERY_URL_ENV = "RAGSTREAM_QUERY_URL"
COMMAND_URL_ENV = "RAGSTREAM_COMMAND_URL"
API_KEY_ENV = "RAGSTREAM_API_KEY"
TOKEN_ENV = "RAGSTREAM_TOKEN"
DEFAULT_PROFILE = "default"
PROFILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ProfileError(ClientError):
    """A profile that does not exist, or a profile file that cannot be read."""


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_url: str | None = None
    command_url: str | None = None
    api_key: str | None = None
    token: str | None = None


class ProfileFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current: str = DEFAULT_PROFILE
    profiles: dict[str, Profile] = Field(default_factory=dict)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if explicit := env.get(CONFIG_ENV):
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "ragstream" / "profiles.json"


def load(path: Path) -> ProfileFile:
    if not path.exists():
        return ProfileFile()
    try:
        return ProfileFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ProfileError(f"cannot read the profile file {path}: {exc}") from exc


def save(path: Path, profiles: ProfileFile) -> None:
    """Atomically, mode 0600 from the first byte (the file holds credentials)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(profiles.model_dump(exclude_none=True), indent=2) + "\n")
        os.chmod(tmp, 0o600)  # a umask cannot widen it, but an existing tmp file could be wider
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@dataclass(frozen=True)
class Connection:
    """Resolved: where the APIs are and which credential to send (none: the dev profile, auth off)."""

    profile: str
    query_url: str
    command_url: str
    api_key: str | None = None
    token: str | None = None
    # Where the credential came from, to say so in messages ("RAGSTREAM_API_KEY", "profile 'acme'").
    credential_source: str = ""

    @property
    def has_credential(self) -> bool:
        return bool(self.api_key or self.token)


def local_urls() -> tuple[str, str]:
    api = get_settings().api
    return f"http://{api.query_host}:{api.query_port}", f"http://{api.command_host}:{api.command_port}"


def resolve(
    profile: str | None = None,
    *,
    query_url: str | None = None,
    command_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Connection:
    """The connection to use (see the module's docstring for what wins)."""
    env = os.environ if environ is None else environ
    stored = load(config_path(env))
    requested = profile or env.get(PROFILE_ENV)
    name = requested or stored.current
    chosen = stored.profiles.get(name)
    if chosen is None:
        if requested:
            known = ", ".join(sorted(stored.profiles)) or "none"
            raise ProfileError(f"no profile {name!r} in {config_path(env)} (profiles: {known})")
        chosen = Profile()
    default_query, default_command = local_urls()
    if env.get(API_KEY_ENV) or env.get(TOKEN_ENV):
        api_key, token = env.get(API_KEY_ENV) or None, env.get(TOKEN_ENV) or None
        source = API_KEY_ENV if api_key else TOKEN_ENV
    else:
        api_key, token, source = chosen.api_key, chosen.token, f"profile {name!r}"
    return Connection(
        profile=name,
        query_url=(query_url or env.get(QUERY_URL_ENV) or chosen.query_url or default_query).rstrip("/"),
        command_url=(command_url or env.get(COMMAND_URL_ENV) or chosen.command_url or default_command).rstrip(
            "/"
        ),
        api_key=api_key,
        token=None if api_key else token,
        credential_source=source if (api_key or token) else "",
    )
