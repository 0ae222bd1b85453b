"""Authentication: API keys (hashed at rest) and JWTs map callers to one tenant and their principals."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from ragstream.auth import Forbidden, Unauthenticated, authenticate
from ragstream.auth.keys import create_key, revoke_key
from ragstream.settings import AuthSettings

pytestmark = pytest.mark.unit
SECRET = "s3cret-for-tests-only-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> AuthSettings:
    return AuthSettings(
        api_keys_file=tmp_path / "keys.json", jwt_secret=SecretStr(SECRET), jwt_audience="ragstream"
    )


def token(**claims: object) -> str:
    body = {"sub": "ann", "tenant": "acme", "groups": ["eng"], "scope": "read write", "aud": "ragstream",
            "exp": int(time.time()) + 60, **claims}  # fmt: skip
    return jwt.encode(body, SECRET, algorithm="HS256")


def test_api_key_is_stored_hashed_and_maps_to_its_tenant(settings: AuthSettings) -> None:
    key = create_key(
        settings.api_keys_file, name="ci", tenant="acme", principals=["group:eng"], scopes=["read"]
    )
    assert key not in settings.api_keys_file.read_text()
    identity = authenticate({"x-api-key": key}, settings)
    assert (identity.tenant, identity.principals, identity.scopes) == (
        "acme",
        ("group:eng",),
        frozenset({"read"}),
    )
    with pytest.raises(Forbidden):
        identity.require("write")
    revoke_key(settings.api_keys_file, "ci")
    with pytest.raises(Unauthenticated):
        authenticate({"authorization": f"Bearer {key}"}, settings)


def test_jwt_gives_user_and_group_principals(settings: AuthSettings) -> None:
    identity = authenticate({"authorization": f"Bearer {token()}"}, settings)
    assert identity.tenant == "acme" and identity.principals == ("user:ann", "group:eng")
    identity.require("write")


@pytest.mark.parametrize(
    "bad",
    [
        token(exp=int(time.time()) - 10),
        token(aud="someone-else"),
        token(tenant=None),
        jwt.encode(
            {"sub": "ann", "tenant": "acme", "exp": int(time.time()) + 60, "aud": "ragstream"}, "x" * 32
        ),
        "not-a-jwt",
    ],
)
def test_bad_tokens_are_rejected(settings: AuthSettings, bad: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate({"authorization": f"Bearer {bad}"}, settings)


def test_missing_credentials_and_tenant_mismatch(settings: AuthSettings) -> None:
    with pytest.raises(Unauthenticated):
        authenticate({"x-tenant": "acme"}, settings)
    with pytest.raises(Forbidden):
        authenticate({"authorization": f"Bearer {token()}", "x-tenant": "other"}, settings)


def test_disabled_auth_trusts_headers(settings: AuthSettings) -> None:
    dev = settings.model_copy(update={"enabled": False})
    identity = authenticate({"x-tenant": "t1", "x-principals": "user:a, group:b", "x-actor": "me"}, dev)
    assert (identity.tenant, identity.principals, identity.subject) == ("t1", ("user:a", "group:b"), "me")
