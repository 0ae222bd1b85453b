"""JWT bearer tokens signed by an identity provider's keys, fetched from a JWKS endpoint (a local
HTTP server): rotation, unknown key ids, expiry and audience, and no blocking of the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import jwt
import pytest

from ragstream.auth import Authenticator, AuthUnavailable, Unauthenticated
from ragstream.settings import AuthSettings
from tests.jwks_server import AUDIENCE, ISSUER, JwksServer, SigningKey, jwks_server

pytestmark = pytest.mark.unit


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    with jwks_server(SigningKey.new()) as server:
        yield server


def authenticator(server: JwksServer, **options: float) -> Authenticator:
    return Authenticator(
        AuthSettings(
            jwt_jwks_url=server.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE,
            **{"jwks_refresh_interval_s": 0.5, "jwks_cache_s": 300, **options},
        )
    )  # fmt: skip


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_a_token_signed_by_a_published_key_is_accepted_and_the_set_is_cached(idp: JwksServer) -> None:
    auth = authenticator(idp)
    for _ in range(5):
        identity = await auth.authenticate(bearer(idp.keys[0].sign()))
        assert (identity.subject, identity.tenant, identity.principals) == (
            "user:ann",
            "acme",
            ("user:ann", "group:eng"),
        )
    assert len(idp.requests) == 1


async def test_rotated_keys_are_picked_up_on_the_first_unknown_key_id(idp: JwksServer) -> None:
    auth = authenticator(idp, jwks_refresh_interval_s=0)
    old = idp.keys[0]
    assert (await auth.authenticate(bearer(old.sign()))).tenant == "acme"
    new = SigningKey.new()
    idp.keys = [new]  # the provider rotates: the old key is withdrawn
    assert (await auth.authenticate(bearer(new.sign()))).tenant == "acme"
    assert len(idp.requests) == 2
    assert auth.tokens.jwks is not None and auth.tokens.jwks.fetches == 2


async def test_unknown_key_ids_refresh_at_most_once_per_interval(idp: JwksServer) -> None:
    auth = authenticator(idp, jwks_refresh_interval_s=0.5)
    await auth.authenticate(bearer(idp.keys[0].sign()))
    forged = SigningKey.new()  # never published
    await asyncio.sleep(0.6)
    results = await asyncio.gather(
        *(auth.authenticate(bearer(forged.sign())) for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) and "unknown signing key" in str(r) for r in results)
    # 50 forged tokens at once: one refresh, not fifty; and none more within the interval.
    assert len(idp.requests) == 2
    with pytest.raises(Unauthenticated):
        await auth.authenticate(bearer(forged.sign()))
    assert len(idp.requests) == 2


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "another-service"}, "(?i)audience"),
        ({"aud": None}, "aud"),
        ({"iss": "https://evil.test"}, "(?i)issuer"),
        ({"iss": None}, "iss"),
    ],
)
async def test_expired_wrong_audience_and_wrong_issuer_are_refused(
    idp: JwksServer, claims: dict[str, object], reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        await authenticator(idp).authenticate(bearer(idp.keys[0].sign(**claims)))


async def test_a_token_must_not_downgrade_to_an_hmac_signed_with_public_material(idp: JwksServer) -> None:
    forged = jwt.encode(
        {"sub": "eve", "tenant": "acme", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
        "k" * 32, algorithm="HS256", headers={"kid": idp.keys[0].kid},
    )  # fmt: skip
    with pytest.raises(Unauthenticated):
        await authenticator(idp).authenticate(bearer(forged))


async def test_fetching_keys_never_blocks_the_event_loop(idp: JwksServer) -> None:
    idp.delay_s = 1.0
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await authenticator(idp).authenticate(bearer(idp.keys[0].sign()))
    finally:
        task.cancel()
    assert ticks >= 10  # the loop kept running through the one-second fetch


async def test_an_unreachable_provider_is_unavailable_not_unauthenticated() -> None:
    with jwks_server(SigningKey.new()) as server:
        url = server.url
    auth = Authenticator(
        AuthSettings(jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_timeout_s=1)
    )
    with pytest.raises(AuthUnavailable):
        await auth.authenticate(bearer(SigningKey.new().sign()))
