"""The console's server side without a pipeline: its page and assets are public and served with a
strict content policy, nothing else under /console is, the API stays behind authentication, the
pipeline summary needs `admin`, and the freshness histogram is counted per bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragstream.auth.keys import create_key
from ragstream.queries.console.pipeline import Bucket, freshness
from ragstream.queries.console.routes import api, pages
from ragstream.queries.indexing.feed import FRESHNESS
from ragstream.settings import AuthSettings
from tests.unit.test_http_kernel import make_app

pytestmark = pytest.mark.unit


@pytest.fixture
def secured(tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    keys_file = tmp_path / "keys.json"
    keys = {
        scope: create_key(keys_file, name=scope, tenant="acme", principals=[], scopes=[scope])
        for scope in ("read", "admin")
    }
    app = make_app(AuthSettings(api_keys_file=keys_file))
    app.include_router(api)
    app.include_router(pages)
    return TestClient(app), keys


def test_the_page_and_its_assets_need_no_credential_and_forbid_foreign_code(
    secured: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = secured
    for path, kind in (("/console", "text/html"), ("/console/", "text/html"),
                       ("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind), path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    page = client.get("/console/").text
    assert 'src="/console/console.js"' in page and "<script>" not in page  # no inline script to allow


def test_nothing_but_the_listed_assets_is_served_and_the_api_stays_closed(
    secured: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = secured
    for path in ("/console/index.html.bak", "/console/..%2Fpyproject.toml", "/console/__init__.py"):
        assert client.get(path).status_code == 404, path
    # Only /console itself and what is under it is public, not a path that merely starts alike.
    assert client.get("/consoles").status_code == 401
    assert client.post("/v1/echo", json={"text": "x"}).status_code == 401


def test_the_pipeline_summary_needs_admin(secured: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = secured
    assert client.get("/v1/admin/pipeline").status_code == 401
    assert client.get("/v1/admin/pipeline", headers={"X-API-Key": keys["read"]}).status_code == 403


def test_the_freshness_histogram_counts_each_bucket_alone() -> None:
    child = FRESHNESS.labels("console-unit")
    for seconds in (0.05, 0.3, 0.4, 3.0, 1000.0):
        child.observe(seconds)
    buckets = freshness()["console-unit"]
    assert [b.le for b in buckets][:3] == [0.1, 0.25, 0.5] and buckets[-1].le is None
    counts = {b.le: b.count for b in buckets}
    assert counts[0.1] == 1 and counts[0.5] == 2 and counts[5] == 1 and counts[None] == 1
    assert sum(b.count for b in buckets) == 5
    assert Bucket(0.25, 0) in buckets
