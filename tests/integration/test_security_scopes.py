"""Who may do what, against the real command and query APIs with authentication on: a route-by-scope
matrix for API keys, tenant-scoped admin, operators acting for a tenant, JWTs from a local JWKS
endpoint, and unauthenticated pages that reveal nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from ragstream.auth.keys import create_key
from ragstream.cli.main import app as cli
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import Settings
from tests.conftest import unique_tag
from tests.integration.helpers import secured_pipeline
from tests.jwks_server import AUDIENCE, ISSUER, JwksServer, SigningKey, jwks_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PROBLEM = "application/problem+json"


@dataclass
class Secured:
    pipeline: LocalPipeline
    keys: dict[str, str]
    idp: JwksServer


@pytest.fixture(scope="module")
def secured(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tag = unique_tag("sec")
    grants = {
        "read": ("acme", ["read"]), "write": ("acme", ["write"]), "admin": ("acme", ["admin"]),
        "operator": ("acme", ["operator"]), "all": ("acme", ["read", "write", "admin"]),
        "globex-read": ("globex", ["read"]),
    }  # fmt: skip
    with jwks_server(SigningKey.new()) as idp, secured_pipeline(
        tag, Path(tmp_path_factory.mktemp(tag)), grants, RAGSTREAM_AUTH__API_KEYS_RELOAD_S="0.2",
        RAGSTREAM_AUTH__JWT_JWKS_URL=idp.url, RAGSTREAM_AUTH__JWT_ISSUER=ISSUER,
        RAGSTREAM_AUTH__JWT_AUDIENCE=AUDIENCE, RAGSTREAM_AUTH__JWKS_REFRESH_INTERVAL_S="1",
    ) as (pipeline, keys):  # fmt: skip
        yield Secured(pipeline, keys, idp)


# (API, method, path, body, scope needed; None: any valid credential)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, str | None]] = [
    ("commands", "POST", "/v1/documents", {"document_id": "m1", "content": "matrix"}, "write"),
    ("commands", "PATCH", "/v1/documents/m1", {"acl": ["group:eng"]}, "write"),
    ("commands", "DELETE", "/v1/documents/m1", None, "write"),
    ("commands", "GET", "/v1/whoami", None, None),
    ("queries", "POST", "/v1/search", {"query": "matrix"}, "read"),
    ("queries", "POST", "/v1/answer", {"question": "what is the matrix?"}, "read"),
    ("queries", "GET", "/v1/documents/m1", None, "read"),
    ("queries", "GET", "/v1/documents/m1/history", None, "read"),
    ("queries", "GET", "/v1/documents/m1/events?command_id=c1&timeout_s=1", None, "read"),  # allowed: timeout
    ("queries", "GET", "/v1/whoami", None, None),
    ("queries", "GET", "/v1/admin/jobs", None, "admin"),
    ("queries", "GET", "/v1/admin/query-log", None, "admin"),
    ("queries", "POST", "/v1/admin/replay", {"read_model": "all", "all_tenants": False}, "admin"),
    ("queries", "GET", "/v1/admin/pipeline", None, "admin"),
    ("queries", "GET", "/v1/admin/status", None, "operator"),
    ("queries", "GET", "/v1/admin/generations", None, "operator"),
    ("queries", "POST", "/v1/admin/rebuild", {"chunk_max_tokens": 0}, "operator"),  # allowed: 422
    ("queries", "DELETE", "/v1/admin/generations/g-none", None, "operator"),  # allowed: 404
    ("queries", "DELETE", "/v1/admin/embedding-generations/e000000000000", None, "operator"),
    ("queries", "GET", "/v1/webhooks", None, "admin"),
    ("queries", "POST", "/v1/webhooks", {"url": "ftp://example.com/hook"}, "admin"),  # allowed: 422
    ("queries", "GET", "/v1/webhooks/wh_0000000000000000/deliveries", None, "admin"),  # allowed: 404
    ("queries", "POST", "/v1/webhooks/wh_0000000000000000/rotate-secret", {}, "admin"),  # allowed: 404
    ("queries", "GET", "/v1/templates", None, "admin"),
    ("queries", "POST", "/v1/templates", {"name": "t", "system_prompt": "{x}"}, "admin"),  # allowed: 422
    ("queries", "PUT", "/v1/templates/t/default", {}, "admin"),  # allowed: 404
]
# What each credential holds; an operator administers every tenant, so it holds admin too.
HOLDS = {"read": {"read"}, "write": {"write"}, "admin": {"admin"}, "operator": {"operator", "admin"}}


def call(
    secured: Secured, api: str, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    base = secured.pipeline.command_url if api == "commands" else secured.pipeline.query_url
    return httpx.request(method, base + path, json=body, headers=headers, timeout=60)


def assert_problem(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"https://ragstream.dev/problems/{kind}"


@pytest.mark.parametrize(("api", "method", "path", "body", "needs"), ROUTES)
def test_every_route_checks_its_scope(
    secured: Secured, api: str, method: str, path: str, body: Any, needs: str | None
) -> None:
    assert_problem(call(secured, api, method, path, body, {}), 401, "unauthenticated")
    bogus = call(secured, api, method, path, body, {"X-API-Key": "rsk_" + "x" * 43})
    assert_problem(bogus, 401, "unauthenticated")
    wrong_tenant = {"X-API-Key": secured.keys["all"], "X-Tenant": "globex"}
    assert_problem(call(secured, api, method, path, body, wrong_tenant), 403, "forbidden")
    for credential, holds in HOLDS.items():
        response = call(secured, api, method, path, body, {"X-API-Key": secured.keys[credential]})
        if needs is None or needs in holds:
            assert response.status_code not in (401, 403) and response.status_code < 500, (
                credential,
                response.text,
            )
        else:
            assert_problem(response, 403, "forbidden")


def test_writes_act_for_the_credentials_tenant_and_actor(secured: Secured) -> None:
    response = call(secured, "commands", "POST", "/v1/documents", {"document_id": "w1", "content": "x"},
                    {"X-API-Key": secured.keys["write"], "X-Actor": "spoofed"})  # fmt: skip
    assert response.status_code == 202, response.text
    whoami = call(secured, "commands", "GET", "/v1/whoami", None, {"X-API-Key": secured.keys["write"]}).json()
    assert whoami == {"subject": "key:write", "tenant": "acme", "principals": [], "scopes": ["write"]}


def test_admin_sees_its_own_tenants_query_log_and_an_operator_every_tenants(secured: Secured) -> None:
    for key, word in (("read", "acmeword"), ("globex-read", "globexword")):
        assert (
            call(
                secured, "queries", "POST", "/v1/search", {"query": word}, {"X-API-Key": secured.keys[key]}
            ).status_code
            == 200
        )

    def logged(key: str, **params: str) -> httpx.Response:
        base = secured.pipeline.query_url
        return httpx.get(
            f"{base}/v1/admin/query-log", params=params, headers={"X-API-Key": secured.keys[key]}
        )

    deadline = time.monotonic() + 30  # the log is written in the background
    # Until both are in (the listing also holds the module's earlier queries).
    while not {e["query"] for e in logged("operator").json()["entries"]} >= {"acmeword", "globexword"}:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    own = logged("admin").json()["entries"]
    assert own and {e["tenant"] for e in own} == {"acme"}
    assert {e["subject"] for e in own if e["query"] == "acmeword"} == {"key:read"}
    assert_problem(logged("admin", tenant="globex"), 403, "forbidden")
    assert {e["tenant"] for e in logged("operator", tenant="globex").json()["entries"]} == {"globex"}
    # An operator acting for a tenant through X-Tenant is that tenant's admin and reader.
    acting = httpx.get(f"{secured.pipeline.query_url}/v1/whoami",
                       headers={"X-API-Key": secured.keys["operator"], "X-Tenant": "globex"}).json()  # fmt: skip
    assert (acting["tenant"], acting["scopes"]) == ("globex", ["operator"])


def test_an_admin_replays_its_own_tenant_only_and_never_sees_other_jobs(secured: Secured) -> None:
    admin, operator = ({"X-API-Key": secured.keys[k]} for k in ("admin", "operator"))

    def replay(headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        for _ in range(60):  # one job at a time on a node: wait out the matrix's
            response = call(secured, "queries", "POST", "/v1/admin/replay", body, headers)
            if response.status_code != 409:
                return response
            time.sleep(0.5)
        raise AssertionError("the node stayed busy")

    own = replay(admin, {"read_model": "all"})
    assert own.status_code == 202 and own.json()["tenant"] == "acme", own.text
    assert_problem(replay(admin, {"all_tenants": True}), 403, "forbidden")
    every = replay(operator, {"read_model": "all"})
    assert every.status_code == 202 and every.json()["tenant"] is None
    jobs = call(secured, "queries", "GET", "/v1/admin/jobs", None, admin).json()
    assert jobs and all(j["tenant"] == "acme" for j in jobs)
    hidden = call(secured, "queries", "GET", f"/v1/admin/jobs/{every.json()['id']}", None, admin)
    assert_problem(hidden, 404, "not-found")


def test_keys_created_or_revoked_apply_without_a_restart(secured: Secured) -> None:
    keys_file = Path(secured.pipeline.env["RAGSTREAM_AUTH__API_KEYS_FILE"])
    late = create_key(keys_file, name="late", tenant="acme", principals=[], scopes=["read"])
    deadline = time.monotonic() + 10
    while call(secured, "queries", "GET", "/v1/whoami", None, {"X-API-Key": late}).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_jwts_from_the_identity_providers_jwks(secured: Secured) -> None:
    idp = secured.idp
    key = idp.keys[0]
    whoami = call(secured, "queries", "GET", "/v1/whoami", None, bearer(key.sign(groups=["eng", "ops"])))
    assert whoami.json() == {"subject": "user:ann", "tenant": "acme", "principals": ["user:ann", "group:eng",
                             "group:ops"], "scopes": ["read"]}  # fmt: skip
    search = call(secured, "queries", "POST", "/v1/search", {"query": "x"}, bearer(key.sign()))
    assert search.status_code == 200
    writes = call(
        secured, "commands", "POST", "/v1/documents", {"document_id": "j", "content": "x"}, bearer(key.sign())
    )
    assert_problem(writes, 403, "forbidden")

    for claims in ({"exp": int(time.time()) - 3600}, {"aud": "another-service"}, {"iss": "https://evil.test"},
                   {"groups": "eng"}, {"tenant": 5}):  # fmt: skip
        assert_problem(
            call(secured, "queries", "GET", "/v1/whoami", None, bearer(key.sign(**claims))),
            401,
            "unauthenticated",
        )
    assert_problem(
        call(secured, "queries", "GET", "/v1/whoami", None, bearer(SigningKey.new().sign())),
        401,
        "unauthenticated",
    )

    rotated = SigningKey.new()
    idp.keys = [rotated]  # the provider rotates its key
    time.sleep(1.2)  # past the refresh interval: the first unknown key id refreshes the set
    fetched = len(idp.requests)
    assert call(secured, "queries", "GET", "/v1/whoami", None, bearer(rotated.sign())).status_code == 200
    assert call(secured, "commands", "GET", "/v1/whoami", None, bearer(rotated.sign())).status_code == 200
    assert len(idp.requests) == fetched + 2  # one refresh per service
    forged = bearer(SigningKey.new().sign())
    started = time.monotonic()
    for _ in range(20):  # forged key ids: at most one refresh per second (the interval)
        assert call(secured, "queries", "GET", "/v1/whoami", None, forged).status_code == 401
    assert len(idp.requests) <= fetched + 2 + int(time.monotonic() - started) + 1


def test_unauthenticated_pages_reveal_nothing(secured: Secured) -> None:
    pipeline = secured.pipeline
    for base in (pipeline.command_url, pipeline.query_url):
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        assert httpx.get(f"{base}/ready").json() == {"status": "ready"}
        spec = httpx.get(f"{base}/openapi.json").json()
        assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
        metrics = httpx.get(f"{base}/metrics").text
        assert "acme" not in metrics and "globex" not in metrics
    status = httpx.get(
        f"{pipeline.query_url}/v1/admin/status", headers={"X-API-Key": secured.keys["operator"]}
    )
    assert set(status.json()) == {"generation", "documents", "chunks", "vector_index_optimizing"}


def test_the_admin_cli_works_with_an_operator_key(secured: Secured, monkeypatch: pytest.MonkeyPatch) -> None:
    url = secured.pipeline.query_url

    def run(key: str, *args: str) -> Result:
        monkeypatch.setenv("RAGSTREAM_API_KEY", secured.keys[key])
        return CliRunner().invoke(cli, [*args, "--url", url])

    listed = run("operator", "generations", "list")
    assert listed.exit_code == 0 and "g1" in listed.output, listed.output
    assert run("operator", "query-log").exit_code == 0
    refused = run("admin", "generations", "list")
    assert refused.exit_code == 4 and "403" in refused.output
