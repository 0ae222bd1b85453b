"""Authentication, once per request: an API key, a JWT, or (auth disabled, dev profile only) headers."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ragstream.auth.exceptions import Forbidden, Unauthenticated
from ragstream.auth.identity import OPERATOR, SCOPES, Identity
from ragstream.auth.keys import PREFIX, KeyStore
from ragstream.auth.tokens import TokenVerifier
from ragstream.identifiers import TENANT_PATTERN
from ragstream.settings import AuthSettings

MAX_CREDENTIAL_LENGTH = 8192


def _credential(headers: Mapping[str, str]) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _split(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


class Authenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.keys = KeyStore(settings.api_keys_file, settings.api_keys_reload_s)
        self.tokens = TokenVerifier(settings)

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """`headers` must be case-insensitive (Starlette's are) or lower-cased."""
        claimed = headers.get("x-tenant") or None
        if not self.settings.enabled:
            tenant = claimed or "default"
            actor = headers.get("x-actor") or "anonymous"
            principals = _split(headers.get("x-principals", ""))
            return Identity(actor, tenant, principals, SCOPES, tenant)
        credential = _credential(headers)
        if credential is None:
            raise Unauthenticated(
                "credentials required: an X-API-Key header or an Authorization: Bearer token"
            )
        if len(credential) > MAX_CREDENTIAL_LENGTH:
            raise Unauthenticated("credentials too long")
        if credential.startswith(PREFIX):
            record = await self.keys.get(credential)
            if record is None:
                raise Unauthenticated("unknown or revoked API key")
            identity = Identity(
                f"key:{record.name}",
                record.tenant,
                tuple(record.principals),
                frozenset(record.scopes),
                record.tenant,
            )
        else:
            identity = await self.tokens.verify(credential)
        if claimed is None or claimed == identity.tenant:
            return identity
        if OPERATOR not in identity.scopes:
            raise Forbidden(f"credentials for tenant {identity.tenant!r} cannot act for tenant {claimed!r}")
        if not re.match(TENANT_PATTERN, claimed):
            raise Forbidden(f"X-Tenant {claimed!r} is not a tenant name")
        return Identity(identity.subject, claimed, identity.principals, identity.scopes, identity.tenant)
