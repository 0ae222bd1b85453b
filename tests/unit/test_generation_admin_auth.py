"""The admin endpoints act on every tenant of a node: with auth on they need the `admin` scope."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragstream.auth.keys import create_key
from ragstream.http import install_auth
from ragstream.queries.admin.routes import router
from ragstream.settings import AuthSettings, Settings

pytestmark = pytest.mark.unit


def app_with(auth: AuthSettings) -> FastAPI:
    app = FastAPI()
    install_auth(app, Settings(auth=auth), "test")
    app.include_router(router)
    app.state.admin = SimpleNamespace(jobs=SimpleNamespace(all=lambda: []))
    return app


def test_admin_scope_is_required_when_auth_is_on(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    reader = create_key(keys, name="r", tenant="acme", principals=[], scopes=["read", "write"])
    operator = create_key(keys, name="ops", tenant="acme", principals=[], scopes=["admin"])
    client = TestClient(app_with(AuthSettings(enabled=True, api_keys_file=keys)))
    assert client.get("/v1/admin/jobs").status_code == 401
    assert client.get("/v1/admin/jobs", headers={"X-API-Key": reader}).status_code == 403
    assert client.get("/v1/admin/jobs", headers={"X-API-Key": operator}).json() == []


def test_the_dev_profile_trusts_every_caller(tmp_path: Path) -> None:
    client = TestClient(app_with(AuthSettings(enabled=False, api_keys_file=tmp_path / "keys.json")))
    assert client.get("/v1/admin/jobs").json() == []
