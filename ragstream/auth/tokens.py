"""JWT bearer tokens: signature (HS256 shared secret or the identity provider's JWKS), registered
claims, and ragstream's own claims checked by type before anything is trusted."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import jwt

from ragstream.auth.exceptions import AuthUnavailable, Unauthenticated
from ragstream.auth.identity import READ, SCOPES, Identity
from ragstream.identifiers import TENANT_PATTERN
from ragstream.settings import AuthSettings

log = logging.getLogger("ragstream.auth")
# Asymmetric only: a JWKS-signed token must never be accepted as HMAC-signed with the public key.
JWKS_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
MAX_CLAIM_LENGTH = 256


class JwksKeys:
    """The identity provider's signing keys, fetched in a thread (never on the event loop) and cached.

    One fetch at a time however many requests wait; a token with an unknown key id (a rotated key, or
    a forged one) refreshes the set at most once per `refresh_interval_s`. When a refresh fails the
    keys already known stay in use.
    """

    def __init__(self, url: str, *, cache_s: float, refresh_interval_s: float, timeout_s: float) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)
        self._cache_s = cache_s
        self._refresh_interval_s = refresh_interval_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._fetches = 0
        self._lock = asyncio.Lock()

    @property
    def fetches(self) -> int:
        """How many times the set was fetched (for tests and diagnostics)."""
        return self._fetches

    async def key(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self._cache_s:
            await self._refresh(self._fetches)
        found = self._keys.get(kid)
        fetched_at = self._fetched_at
        if (
            found is None
            and fetched_at is not None
            and time.monotonic() - fetched_at >= self._refresh_interval_s
        ):
            await self._refresh(self._fetches)
            found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated("invalid bearer token: unknown signing key")
        return found

    async def _refresh(self, seen: int) -> None:
        async with self._lock:
            if self._fetches != seen:
                return  # another request refreshed while this one waited: use its result
            try:
                data = await asyncio.to_thread(self._client.fetch_data)
                keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(data).keys if k.key_id}
            except jwt.PyJWTError as exc:
                if not self._keys:
                    raise AuthUnavailable("the identity provider's signing keys are unavailable") from exc
                log.warning("JWKS refresh failed, keeping %d known keys: %s", len(self._keys), exc)
                keys = self._keys
            self._keys = keys
            self._fetched_at = time.monotonic()
            self._fetches += 1


def _string_list(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= MAX_CLAIM_LENGTH for v in value
    ):
        raise Unauthenticated(f"invalid bearer token: the {name!r} claim must be a list of strings")
    return value


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    value = claims.get("scope")
    if value is None:
        return frozenset({READ})
    if isinstance(value, str):
        granted = value.split()
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        granted = value
    else:
        raise Unauthenticated("invalid bearer token: the 'scope' claim must be a string or a list of strings")
    # Identity providers add scopes of their own (openid, email, ...): only ragstream's count.
    return frozenset(granted) & SCOPES


def identity_from_claims(claims: Mapping[str, Any], settings: AuthSettings) -> Identity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_CLAIM_LENGTH:
        raise Unauthenticated("invalid bearer token: the 'sub' claim must be a non-empty string")
    tenant = claims.get(settings.jwt_tenant_claim)
    if not isinstance(tenant, str) or not re.match(TENANT_PATTERN, tenant):
        raise Unauthenticated(f"invalid bearer token: no valid {settings.jwt_tenant_claim!r} claim")
    groups = _string_list(claims, settings.jwt_groups_claim)
    principals = (f"user:{subject}", *(f"group:{g}" for g in groups))
    return Identity(f"user:{subject}", tenant, principals, _scopes(claims), tenant)


class TokenVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._jwks = (
            JwksKeys(
                settings.jwt_jwks_url,
                cache_s=settings.jwks_cache_s,
                refresh_interval_s=settings.jwks_refresh_interval_s,
                timeout_s=settings.jwks_timeout_s,
            )
            if settings.jwt_jwks_url
            else None
        )

    @property
    def jwks(self) -> JwksKeys | None:
        return self._jwks

    async def verify(self, token: str) -> Identity:
        settings = self._settings
        key: Any
        if self._jwks is not None:
            try:
                header = jwt.get_unverified_header(token)
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"invalid bearer token: {exc}") from exc
            kid, algorithm = header.get("kid"), header.get("alg")
            if not isinstance(kid, str) or not kid or algorithm not in JWKS_ALGORITHMS:
                raise Unauthenticated(
                    "invalid bearer token: a key id and an asymmetric algorithm are required"
                )
            jwk = await self._jwks.key(kid)
            key, algorithms = (
                jwk.key,
                [jwk.algorithm_name if jwk.algorithm_name in JWKS_ALGORITHMS else algorithm],
            )
        elif secret := settings.jwt_secret.get_secret_value():
            key, algorithms = secret, ["HS256"]
        else:
            raise Unauthenticated("JWT bearer tokens are not configured; use an API key")
        required = (
            ["exp", "sub"]
            + (["iss"] if settings.jwt_issuer else [])
            + (["aud"] if settings.jwt_audience else [])
        )
        try:
            claims = jwt.decode(
                token, key, algorithms=algorithms, options={"require": required},
                audience=settings.jwt_audience or None, issuer=settings.jwt_issuer or None,
                leeway=settings.jwt_leeway_s,
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid bearer token: {exc}") from exc
        return identity_from_claims(claims, settings)
