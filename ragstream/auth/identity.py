"""Who is calling: from an API key, a JWT, or (auth disabled, dev profile only) trusted headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt

from ragstream.auth.exceptions import Forbidden, Unauthenticated
from ragstream.auth.keys import PREFIX, hash_key, load_keys
from ragstream.settings import AuthSettings


@dataclass(frozen=True)
class Identity:
    subject: str
    tenant: str
    principals: tuple[str, ...]
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"{self.subject} lacks the {scope!r} scope for tenant {self.tenant}")


def _bearer(headers: Mapping[str, str]) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _split(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url)


def _from_jwt(token: str, settings: AuthSettings) -> Identity:
    options: Any = {"require": ["exp", "sub"]}
    try:
        if settings.jwt_jwks_url:
            key: Any = _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key
            algorithms = ["RS256", "ES256"]
        elif settings.jwt_secret.get_secret_value():
            key, algorithms = settings.jwt_secret.get_secret_value(), ["HS256"]
        else:
            raise Unauthenticated("JWT bearer tokens are not configured; use an API key")
        claims = jwt.decode(
            token, key, algorithms=algorithms, options=options,
            audience=settings.jwt_audience or None, issuer=settings.jwt_issuer or None,
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid bearer token: {exc}") from exc
    tenant = claims.get(settings.jwt_tenant_claim)
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated(f"token has no {settings.jwt_tenant_claim!r} claim")
    groups = claims.get(settings.jwt_groups_claim) or []
    scopes = str(claims.get("scope", "read")).split()
    principals = (f"user:{claims['sub']}", *(f"group:{g}" for g in groups if isinstance(g, str)))
    return Identity(f"user:{claims['sub']}", tenant, principals, frozenset(scopes))


def authenticate(headers: Mapping[str, str], settings: AuthSettings) -> Identity:
    """`headers` must be case-insensitive (Starlette's are) or lower-cased."""
    if not settings.enabled:
        tenant = headers.get("x-tenant") or "default"
        actor = headers.get("x-actor") or "anonymous"
        return Identity(actor, tenant, _split(headers.get("x-principals", "")), frozenset({"read", "write"}))
    token = _bearer(headers)
    if token is None:
        raise Unauthenticated("credentials required: an X-API-Key header or an Authorization: Bearer token")
    if token.startswith(PREFIX):
        record = load_keys(settings.api_keys_file).get(hash_key(token))
        if record is None:
            raise Unauthenticated("unknown or revoked API key")
        identity = Identity(
            f"key:{record.name}", record.tenant, tuple(record.principals), frozenset(record.scopes)
        )
    else:
        identity = _from_jwt(token, settings)
    claimed = headers.get("x-tenant")
    if claimed and claimed != identity.tenant:
        raise Forbidden(f"credentials for tenant {identity.tenant!r} cannot act for tenant {claimed!r}")
    return identity
