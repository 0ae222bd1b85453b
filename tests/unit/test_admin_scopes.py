"""The admin endpoints: `admin` is tenant-scoped (its own jobs and query log), what spans tenants
needs `operator`, and the dev profile trusts every caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragstream.auth.keys import create_key
from ragstream.http.service import create_service_app
from ragstream.queries.admin.jobs import Job
from ragstream.queries.admin.routes import router
from ragstream.settings import AuthSettings, Settings

pytestmark = pytest.mark.unit


@asynccontextmanager
async def nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


async def always(_: FastAPI) -> bool:
    return True


def app_with(auth: AuthSettings) -> FastAPI:
    app = create_service_app(
        title="t", service="t", settings=Settings(auth=auth), lifespan=nothing, ready=always,
        body_limit=4096, errors={},
    )  # fmt: skip
    app.include_router(router)
    jobs = [Job("replay", "all", tenant="acme", id="j-acme"), Job("replay", "all", tenant="globex", id="j-globex"),
            Job("rebuild", "all", id="j-node")]  # fmt: skip
    app.state.admin = SimpleNamespace(
        jobs=SimpleNamespace(all=lambda: jobs, get=lambda i: next((j for j in jobs if j.id == i), None)),
        feed=SimpleNamespace(generation=SimpleNamespace(name="g1")),
        generations=lambda: [],
    )
    return app


def ids(response: object) -> set[str]:
    return {j["id"] for j in response.json()}  # type: ignore[attr-defined]


def test_admin_is_tenant_scoped_and_operator_spans_tenants(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    reader = create_key(keys, name="r", tenant="acme", principals=[], scopes=["read", "write"])
    admin = create_key(keys, name="adm", tenant="acme", principals=[], scopes=["admin"])
    operator = create_key(keys, name="ops", tenant="acme", principals=[], scopes=["operator"])
    client = TestClient(app_with(AuthSettings(enabled=True, api_keys_file=keys)))

    no_key = client.get("/v1/admin/jobs")
    assert no_key.status_code == 401 and no_key.headers["content-type"] == "application/problem+json"
    assert no_key.json()["type"] == "https://ragstream.dev/problems/unauthenticated"
    forbidden = client.get("/v1/admin/jobs", headers={"X-API-Key": reader})
    assert forbidden.status_code == 403 and forbidden.json()["type"].endswith("/forbidden")

    assert ids(client.get("/v1/admin/jobs", headers={"X-API-Key": admin})) == {"j-acme"}
    assert client.get("/v1/admin/jobs/j-globex", headers={"X-API-Key": admin}).status_code == 404
    assert client.get("/v1/admin/jobs/j-acme", headers={"X-API-Key": admin}).status_code == 200
    assert client.get("/v1/admin/generations", headers={"X-API-Key": admin}).status_code == 403
    assert client.get("/v1/admin/query-log?tenant=globex", headers={"X-API-Key": admin}).status_code == 403
    assert client.get("/v1/admin/jobs", headers={"X-API-Key": admin, "X-Tenant": "globex"}).status_code == 403

    assert ids(client.get("/v1/admin/jobs", headers={"X-API-Key": operator})) == {
        "j-acme",
        "j-globex",
        "j-node",
    }
    assert client.get("/v1/admin/generations", headers={"X-API-Key": operator}).json()["live"] == "g1"


def test_the_dev_profile_trusts_every_caller(tmp_path: Path) -> None:
    client = TestClient(app_with(AuthSettings(enabled=False, api_keys_file=tmp_path / "keys.json")))
    assert ids(client.get("/v1/admin/jobs")) == {"j-acme", "j-globex", "j-node"}
    assert client.get("/v1/whoami", headers={"X-Tenant": "t1"}).json()["scopes"] == [
        "admin", "operator", "read", "write"
    ]  # fmt: skip
