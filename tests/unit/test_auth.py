"""Authentication: API keys (hashed at rest) and JWTs map callers to one tenant and their principals;
claims are trusted only with the right types; weak settings are refused at start-up."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from ragstream.auth import ADMIN, OPERATOR, SCOPES, Authenticator, Forbidden, Identity, Unauthenticated
from ragstream.auth.keys import create_key, revoke_key
from ragstream.settings import AuthSettings

pytestmark = pytest.mark.unit
SECRET = "s3cret-for-tests-only-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> AuthSettings:
    return AuthSettings(
        api_keys_file=tmp_path / "keys.json", jwt_secret=SecretStr(SECRET), jwt_audience="ragstream",
        api_keys_reload_s=0,
    )  # fmt: skip


def token(**claims: object) -> str:
    body = {"sub": "ann", "tenant": "acme", "groups": ["eng"], "scope": "read write", "aud": "ragstream",
            "exp": int(time.time()) + 60, **claims}  # fmt: skip
    return jwt.encode({k: v for k, v in body.items() if v is not None}, SECRET, algorithm="HS256")


def authenticate(headers: dict[str, str], settings: AuthSettings) -> Identity:
    return asyncio.run(Authenticator(settings).authenticate(headers))


def test_api_key_is_stored_hashed_and_maps_to_its_tenant(settings: AuthSettings) -> None:
    key = create_key(
        settings.api_keys_file, name="ci", tenant="acme", principals=["group:eng"], scopes=["read"]
    )
    assert key not in settings.api_keys_file.read_text()
    assert os.stat(settings.api_keys_file).st_mode & 0o777 == 0o600
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


def test_keys_are_loaded_once_and_reloaded_when_the_file_changes(settings: AuthSettings) -> None:
    async def run() -> None:
        authenticator = Authenticator(settings.model_copy(update={"api_keys_reload_s": 0}))
        first = create_key(settings.api_keys_file, name="a", tenant="acme", principals=[], scopes=["read"])
        assert (await authenticator.authenticate({"x-api-key": first})).subject == "key:a"
        second = create_key(settings.api_keys_file, name="b", tenant="acme", principals=[], scopes=["read"])
        assert (await authenticator.authenticate({"x-api-key": second})).subject == "key:b"
        revoke_key(settings.api_keys_file, "a")
        with pytest.raises(Unauthenticated):
            await authenticator.authenticate({"x-api-key": first})

    asyncio.run(run())


def test_a_broken_key_file_keeps_the_keys_already_loaded(settings: AuthSettings) -> None:
    async def run() -> None:
        authenticator = Authenticator(settings)
        key = create_key(settings.api_keys_file, name="a", tenant="acme", principals=[], scopes=["read"])
        assert (await authenticator.authenticate({"x-api-key": key})).subject == "key:a"
        settings.api_keys_file.write_text("{not json")
        assert (await authenticator.authenticate({"x-api-key": key})).subject == "key:a"

    asyncio.run(run())


def test_jwt_gives_user_and_group_principals(settings: AuthSettings) -> None:
    identity = authenticate({"authorization": f"Bearer {token()}"}, settings)
    assert identity.tenant == "acme" and identity.principals == ("user:ann", "group:eng")
    identity.require("write")


@pytest.mark.parametrize(
    "bad",
    [
        token(exp=int(time.time()) - 3600),
        token(aud="someone-else"),
        token(aud=None),
        token(tenant=None),
        token(tenant="bad tenant/"),
        token(sub=""),
        token(sub=123),
        jwt.encode(
            {"sub": "ann", "tenant": "acme", "exp": int(time.time()) + 60, "aud": "ragstream"}, "x" * 32
        ),
        "not-a-jwt",
    ],
)
def test_bad_tokens_are_rejected(settings: AuthSettings, bad: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate({"authorization": f"Bearer {bad}"}, settings)


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"groups": "eng"}, "'groups' claim must be a list of strings"),  # not one group per character
        ({"groups": ["eng", 7]}, "'groups' claim must be a list of strings"),
        ({"groups": {"eng": True}}, "'groups' claim must be a list of strings"),
        ({"scope": 42}, "'scope' claim must be a string or a list"),
        ({"scope": ["read", None]}, "'scope' claim must be a string or a list"),
    ],
)
def test_claims_of_the_wrong_type_are_refused_not_coerced(
    settings: AuthSettings, claims: dict[str, Any], problem: str
) -> None:
    with pytest.raises(Unauthenticated, match=problem):
        authenticate({"authorization": f"Bearer {token(**claims)}"}, settings)


def test_scope_claim_as_a_list_and_foreign_scopes_ignored(settings: AuthSettings) -> None:
    identity = authenticate({"authorization": f"Bearer {token(scope=['read', 'openid', 'admin'])}"}, settings)
    assert identity.scopes == frozenset({"read", "admin"})
    no_scope = authenticate({"authorization": f"Bearer {token(scope=None)}"}, settings)
    assert no_scope.scopes == frozenset({"read"})


def test_missing_credentials_and_tenant_mismatch(settings: AuthSettings) -> None:
    with pytest.raises(Unauthenticated):
        authenticate({"x-tenant": "acme"}, settings)
    with pytest.raises(Forbidden):
        authenticate({"authorization": f"Bearer {token()}", "x-tenant": "other"}, settings)


def test_only_an_operator_may_act_for_another_tenant(settings: AuthSettings) -> None:
    path = settings.api_keys_file
    admin = create_key(path, name="adm", tenant="acme", principals=[], scopes=["admin"])
    operator = create_key(path, name="ops", tenant="acme", principals=["group:ops"], scopes=["operator"])
    with pytest.raises(Forbidden):
        authenticate({"x-api-key": admin, "x-tenant": "globex"}, settings)
    acting = authenticate({"x-api-key": operator, "x-tenant": "globex"}, settings)
    assert (acting.tenant, acting.home_tenant, acting.principals) == ("globex", "acme", ("group:ops",))
    assert acting.has(OPERATOR) and acting.has(ADMIN) and not acting.has("read")
    acting.require_tenant("initech")
    with pytest.raises(Forbidden):
        authenticate({"x-api-key": admin}, settings).require_tenant("globex")


def test_operator_is_never_a_default_scope(settings: AuthSettings) -> None:
    key = create_key(settings.api_keys_file, name="d", tenant="acme", principals=[], scopes=["read", "admin"])
    assert not authenticate({"x-api-key": key}, settings).has(OPERATOR)
    assert not authenticate({"authorization": f"Bearer {token(scope=None)}"}, settings).has(OPERATOR)


def test_disabled_auth_trusts_headers_and_holds_every_scope(settings: AuthSettings) -> None:
    dev = settings.model_copy(update={"enabled": False})
    identity = authenticate({"x-tenant": "t1", "x-principals": "user:a, group:b", "x-actor": "me"}, dev)
    assert (identity.tenant, identity.principals, identity.subject) == ("t1", ("user:a", "group:b"), "me")
    assert identity.scopes == SCOPES


def test_short_hs256_secrets_are_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        AuthSettings(jwt_secret=SecretStr("too-short-secret"))
    AuthSettings(jwt_secret=SecretStr("x" * 32))


def test_jwks_needs_issuer_and_audience() -> None:
    with pytest.raises(ValidationError, match=r"jwt_issuer and auth\.jwt_audience are required"):
        AuthSettings(jwt_jwks_url="https://idp.example/jwks.json", jwt_issuer="https://idp.example")
    AuthSettings(jwt_jwks_url="https://idp.example/jwks.json", jwt_issuer="https://idp", jwt_audience="rag")


def test_bad_key_names_and_scopes_are_refused(settings: AuthSettings) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        create_key(settings.api_keys_file, name="x", tenant="acme", principals=[], scopes=["root"])
    with pytest.raises(ValueError, match="does not match"):
        create_key(settings.api_keys_file, name="x", tenant="../etc", principals=[], scopes=["read"])
