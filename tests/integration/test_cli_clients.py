"""The command line as a user with a tenant key runs it, against the real services with auth on: the
credential decides the tenant (ingest lands where search looks), profiles, --json everywhere that
prints data, exit codes, and tables that fit 80 columns."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from typer.testing import CliRunner, Result

from ragstream.cli.main import app
from ragstream.client import verify_webhook
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import Settings, get_settings
from tests.conftest import unique_tag
from tests.integration.helpers import secured_pipeline, wait_until
from tests.integration.servers import webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Cli:
    def __init__(self, pipeline: LocalPipeline, keys: dict[str, str], home: Path) -> None:
        self.pipeline, self.keys, self.home = pipeline, keys, home

    def __call__(self, *args: str, key: str | None = "app", input: str | None = None, **env: str) -> Result:
        """`ragstream ARGS` with the pipeline's settings, `key` as RAGSTREAM_API_KEY, in 80 columns."""
        environ = {
            **self.pipeline.env,
            "RAGSTREAM_CONFIG": str(self.home / "profiles.json"),
            "COLUMNS": "80",
            **env,
        }
        if key is not None:
            environ["RAGSTREAM_API_KEY"] = self.keys[key]
        removed = [
            k for k in ("RAGSTREAM_API_KEY", "RAGSTREAM_PROFILE", "RAGSTREAM_TOKEN") if k not in environ
        ]
        with mock.patch.dict(os.environ, environ):
            for name in removed:
                os.environ.pop(name, None)
            get_settings.cache_clear()  # ingest --kafka produces with the pipeline's topic prefix
            try:
                return CliRunner().invoke(app, list(args), input=input)
            finally:
                get_settings.cache_clear()

    def json(self, *args: str, **kwargs: Any) -> Any:
        result = self(*args, "--json", **kwargs)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def cli(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    tag = unique_tag("cli")
    grants = {
        "app": ("acme", ["read", "write"]), "admin": ("acme", ["read", "admin"]),
        "ops": ("acme", ["operator"]), "globex": ("globex", ["read"]),
    }  # fmt: skip
    work = Path(tmp_path_factory.mktemp(tag))
    # The webhook commands' receiver listens on 127.0.0.1.
    env = {
        "RAGSTREAM_NOTIFICATIONS__ALLOW_PRIVATE_TARGETS": "true",
        "RAGSTREAM_NOTIFICATIONS__POLL_INTERVAL_S": "0.2",
    }
    with secured_pipeline(tag, work, grants, workers=1, principals={"app": ["group:eng"]}, **env) as (
        pipeline,
        keys,
    ):
        yield Cli(pipeline, keys, work)


@pytest.fixture(scope="module")
def ingested(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    (docs / "guide").mkdir()
    (docs / "guide" / "volcanoes.md").write_text(
        "# Volcanoes\n\nCooled lava forms basalt, a dark volcanic rock."
    )
    (docs / "tides.txt").write_text("Tides follow the moon; spring tides come twice a month.")
    return docs


def test_ingest_writes_to_the_keys_tenant_and_search_finds_it(cli: Cli, ingested: Path) -> None:
    # The first run: a key for acme, no --tenant anywhere.
    result = cli("ingest", str(ingested), "--wait", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["tenant"], summary["via"], summary["written"], summary["searchable"]) == (
        "acme", "command-api", 2, True,
    )  # fmt: skip
    assert "to tenant 'acme'" in result.stderr and "as key:app" in result.stderr

    hits = cli.json("search", "basalt", "--mode", "bm25")["hits"]
    assert [h["document_id"] for h in hits] == ["guide/volcanoes.md"]
    table = cli("search", "basalt lava")
    assert table.exit_code == 0 and "guide/volcanoes.md" in table.stdout
    assert cli.json("search", "basalt", key="globex")["hits"] == []  # another tenant's key sees nothing


def test_ingest_wait_says_what_became_of_each_document(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "granite.txt").write_text("Granite cools slowly, deep underground.")
    fresh = cli.json("ingest", str(tmp_path), "--wait")
    assert fresh["searchable"] and fresh["outcomes"]["searchable"] == 1
    # It returned once searchable: the search finds it without any token.
    assert [h["document_id"] for h in cli.json("search", "granite", "--mode", "bm25")["hits"]] == [
        "granite.txt"
    ]
    again = cli("ingest", str(tmp_path), "--wait", "--json")  # the same file: unchanged, not an error
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert summary["searchable"] and summary["outcomes"] == {
        "searchable": 0, "unchanged": 1, "rejected": [], "failed": [], "timed_out": [],
    }  # fmt: skip
    assert "searchable: 0, unchanged: 1, rejected: 0, failed: 0" in again.stderr
    # --reindex: the same file processed again, as a new version (after a failure downstream, say).
    forced = cli.json("ingest", str(tmp_path), "--reindex", "--wait")
    assert forced["searchable"] and (forced["outcomes"]["searchable"], forced["outcomes"]["unchanged"]) == (
        1,
        0,
    )
    hits = cli.json("search", "granite", "--mode", "bm25")["hits"]
    assert [(h["document_id"], h["version"]) for h in hits] == [("granite.txt", 2)]


def test_webhooks_commands_manage_the_tenants_subscriptions(cli: Cli) -> None:
    with webhook_receiver() as receiver:
        created = cli("webhooks", "create", receiver.url + "/cli", "-e", "document.searchable", key="admin")
        assert created.exit_code == 0, created.output
        secret = created.stdout.strip()
        assert secret.startswith("whsec_") and "cannot be shown again" in created.stderr
        [hook] = cli.json("webhooks", "list", key="admin")
        assert (hook["url"], hook["events"], hook["active"]) == (
            receiver.url + "/cli",
            ["document.searchable"],
            True,
        )
        assert cli("webhooks", "ping", hook["id"], key="admin").exit_code == 0
        wait_until(lambda: bool(receiver.at("/cli")), timeout=30, interval=0.2)
        ping = receiver.at("/cli")[0]
        verify_webhook(secret, ping.headers, ping.body)
        [delivery] = cli.json("webhooks", "deliveries", hook["id"], key="admin")
        assert (delivery["kind"], delivery["state"]) == ("webhook.ping", "delivered")
        assert cli("webhooks", "create", receiver.url, "-e", "document.nonsense", key="admin").exit_code == 2
        assert cli("webhooks", "list", key="app").exit_code == 4  # read and write, not admin
        assert cli("webhooks", "delete", hook["id"], key="admin").exit_code == 0
        assert cli("webhooks", "delete", hook["id"], key="admin").exit_code == 3


def test_a_tenant_the_key_cannot_act_for_is_refused_saying_whose_key_it_is(cli: Cli) -> None:
    refused = cli("search", "basalt", "--tenant", "default")
    assert refused.exit_code == 4
    assert "credentials for tenant 'acme' cannot act for tenant 'default'" in refused.stderr
    assert "RAGSTREAM_API_KEY" in refused.stderr  # where the credential came from
    no_key = cli("search", "basalt", key=None)
    assert no_key.exit_code == 4 and "ragstream login" in no_key.stderr
    assert cli("query-log").exit_code == 4  # read and write, not admin


def test_ingest_straight_to_kafka_says_which_tenant_it_writes_to(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "kafka.txt").write_text("Pumice is a volcanic rock light enough to float.")
    result = cli("ingest", str(tmp_path), "--kafka", "--wait", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tenant"] == "acme" and "to tenant 'acme'" in result.stderr
    assert "Kafka topic" in result.stderr and "unchecked" in result.stderr
    assert [h["document_id"] for h in cli.json("search", "pumice", "--mode", "bm25")["hits"]] == ["kafka.txt"]


def test_answers_as_one_json_document_or_json_lines_when_streamed(cli: Cli, ingested: Path) -> None:
    answer = cli.json("ask", "What does cooled lava form?", "--passages", "2")
    assert answer["grounded"] and answer["citations"][0]["document_id"] == "guide/volcanoes.md"
    streamed = cli("ask", "What does cooled lava form?", "--passages", "2", "--stream", "--json")
    assert streamed.exit_code == 0, streamed.output
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert {e["event"] for e in events[:-1]} == {"delta"} and events[-1]["event"] == "citations"
    assert events[-1]["citations"][0]["document_id"] == "guide/volcanoes.md"
    text = cli("ask", "What does cooled lava form?", "--stream")
    assert text.exit_code == 0 and "[1] guide/volcanoes.md" in text.stdout


def test_audit_fits_80_columns_and_json_has_every_field(cli: Cli, ingested: Path) -> None:
    data = cli.json("audit", "guide/volcanoes.md")
    assert (data["document"]["tenant"], data["document"]["version"]) == ("acme", 1)
    assert [(e["event_type"], e["actor"], e["source"]["via"]) for e in data["history"]] == [
        ("DocumentUpserted", "key:app", "command-api")
    ]
    table = cli("audit", "guide/volcanoes.md")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "key:app" in table.stdout and "DocumentUpserted" in table.stdout and "…" not in table.stdout
    assert "left out to fit the terminal" in table.stdout  # and says what was left out
    wide = cli("audit", "guide/volcanoes.md", COLUMNS="200")
    assert "command-api" in wide.stdout and "left out" not in wide.stdout
    missing = cli("audit", "guide/nothing.md")
    assert missing.exit_code == 3 and "not found" in missing.stderr


def test_admin_and_operator_commands_speak_json(cli: Cli, ingested: Path) -> None:
    log = cli.json("query-log", key="admin")
    assert log["entries"] and {e["tenant"] for e in log["entries"]} == {"acme"}
    job = cli.json("replay", key="admin")
    assert (job["kind"], job["state"], job["tenant"]) == ("replay", "done", "acme")
    assert cli("generations", "list", key="admin").exit_code == 4  # generations span tenants: operator
    generations = cli.json("generations", "list", key="ops")
    assert [g["name"] for g in generations["generations"] if g["current"]] == [generations["live"]]
    status = cli("status", "--json", key="ops")
    report = json.loads(status.stdout)
    assert report["query_node"]["status"]["documents"] >= 3 and report["dead_letters"] == 0
    assert status.exit_code == (0 if report["healthy"] else 1)


def test_login_stores_a_private_profile_that_later_commands_use(cli: Cli) -> None:
    login = cli("login", "--profile", "acme", key=None, input=cli.keys["app"] + "\n")
    assert login.exit_code == 0, login.output
    assert "key:app: tenant acme" in login.stdout
    stored = cli.home / "profiles.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    me = cli.json("whoami", key=None)  # no RAGSTREAM_API_KEY: the current profile's key
    assert (me["tenant"], me["subject"], me["profile"], me["credential"]) == (
        "acme",
        "key:app",
        "acme",
        "profile 'acme'",
    )
    assert cli.json("whoami", key="globex")["tenant"] == "globex"  # the environment overrides the profile

    forged = cli("login", "--profile", "bad", key=None, input="rsk_forged\n")
    assert forged.exit_code == 4 and "bad" not in json.loads(stored.read_text())["profiles"]
    assert cli("whoami", key=None, RAGSTREAM_PROFILE="bad").exit_code == 2  # no such profile
    moved = cli("whoami", key=None, RAGSTREAM_QUERY_URL="http://127.0.0.1:9")
    assert moved.exit_code == 2 and "unreachable" in moved.stderr

    assert cli("logout", "--profile", "acme", key=None).exit_code == 0
    assert cli("whoami", key=None).exit_code == 4
