"""What the sync and the async client share: where the APIs are, the headers every request carries."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Self

from ragstream.client.operations import Call, RetryPolicy
from ragstream.client.profiles import resolve

DEFAULT_QUERY_URL = "http://127.0.0.1:8082"
DEFAULT_COMMAND_URL = "http://127.0.0.1:8081"
DEFAULT_TIMEOUT_S = 60.0  # above the query API's longest consistency wait (60 s at most)


def client_version() -> str:
    try:
        return version("ragstream")
    except PackageNotFoundError:
        return "0+unknown"


class ClientBase:
    """`api_key` (X-API-Key) or `token` (a JWT, Authorization: Bearer): the credential, which acts
    for one tenant with its principals and scopes. `tenant` names another tenant to act for, which
    only a credential holding `operator` may. With authentication off (the dev profile) there is no
    credential: `tenant`, `principals` and `actor` are then taken as given."""

    def __init__(
        self,
        query_url: str = DEFAULT_QUERY_URL,
        command_url: str = DEFAULT_COMMAND_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        tenant: str | None = None,
        principals: Sequence[str] = (),
        actor: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = RetryPolicy(),
        verify: bool | str = True,
    ) -> None:
        self.urls = {"queries": query_url.rstrip("/"), "commands": command_url.rstrip("/")}
        self.retry = retry
        self.timeout_s = timeout_s
        self.verify = verify
        headers = {"User-Agent": f"ragstream-client/{client_version()}"}
        if api_key:
            headers["X-API-Key"] = api_key
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        if tenant:
            headers["X-Tenant"] = tenant
        if principals:
            headers["X-Principals"] = ",".join(principals)
        if actor:
            headers["X-Actor"] = actor
        self.headers = headers

    @classmethod
    def from_profile(
        cls,
        profile: str | None = None,
        *,
        query_url: str | None = None,
        command_url: str | None = None,
        **options: Any,
    ) -> Self:
        """A client for a stored profile, with the environment's overrides (ragstream.client.profiles)."""
        found = resolve(profile, query_url=query_url, command_url=command_url)
        return cls(found.query_url, found.command_url, api_key=found.api_key, token=found.token, **options)

    def url(self, call: Call) -> str:
        return self.urls[call.api] + call.path
