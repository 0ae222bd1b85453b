"""Which APIs a command talks to and as whom: the profile, the environment and the options, resolved
once per command; the credential's tenant, principals and scopes come from `GET /v1/whoami`.

Requests name a tenant (X-Tenant) only when --tenant is given: the APIs refuse it (403, saying which
tenant the credential is for) unless the credential holds `operator` or auth is off."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import typer

from ragstream.cli.output import HINT_KEY, errors
from ragstream.client import Client, Connection, WhoAmI, resolve
from ragstream.client.operations import Api

URL_HELP = "Query API base URL (default: RAGSTREAM_QUERY_URL, the profile, then the local port)."
TENANT_HELP = (
    "Act for this tenant. Only for a credential that may act for several (operator) or with auth off;"
    " by default the credential's own tenant."
)
PRINCIPALS_HELP = (
    "Comma-separated principals, e.g. user:ann,group:eng (auth off only: a credential has its own)."
)


@dataclass
class Session:
    connection: Connection
    tenant: str | None = None
    principals: tuple[str, ...] = ()
    actor: str | None = None
    _client: Client | None = None
    _identities: dict[str, WhoAmI] = field(default_factory=dict)

    def client_options(self) -> dict[str, Any]:
        """What a Client or AsyncClient is made with."""
        c = self.connection
        return {
            "query_url": c.query_url, "command_url": c.command_url, "api_key": c.api_key, "token": c.token,
            "tenant": self.tenant, "principals": self.principals, "actor": self.actor,
        }  # fmt: skip

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(**self.client_options())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def identity(self, api: Api = "queries") -> WhoAmI:
        """Who the credential is, as that API sees it (asked once)."""
        if api not in self._identities:
            self._identities[api] = self.client.whoami(api)
        return self._identities[api]

    def acting_tenant(self, api: Api = "queries") -> str:
        """The tenant requests act for: --tenant, else the credential's (with auth off: "default")."""
        return self.tenant or self.identity(api).tenant


def open_session(
    ctx: typer.Context,
    *,
    url: str | None = None,
    command_url: str | None = None,
    tenant: str | None = None,
    principals: str = "",
    actor: str | None = None,
) -> Session:
    """The session of a command; its client is closed when the command ends."""
    profile = ctx.find_root().params.get("profile")
    connection = resolve(profile, query_url=url, command_url=command_url)
    ctx.meta[HINT_KEY] = connection.credential_source
    names = tuple(p.strip() for p in principals.split(",") if p.strip())
    if connection.has_credential and (names or actor):
        ignored = " and ".join(o for o, given in (("--principals", names), ("--actor", actor)) if given)
        errors.print(
            f"[yellow]{ignored} ignored: the credential ({connection.credential_source}) has its own[/yellow]"
        )
        names, actor = (), None
    session = Session(connection, tenant=tenant, principals=names, actor=actor)
    ctx.call_on_close(session.close)
    return session
