"""Profiles (file mode, what wins over what), exit codes, --version and tables that fit: the CLI without
any service (an unreachable API is exit 2)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragstream.cli.main import app
from ragstream.cli.output import Col, ExitCode, fit_columns, fitted_table
from ragstream.client.profiles import Profile, ProfileError, ProfileFile, config_path, load, resolve, save
from ragstream.settings import get_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "profiles.json"
    monkeypatch.setenv("RAGSTREAM_CONFIG", str(path))
    for name in ("RAGSTREAM_PROFILE", "RAGSTREAM_QUERY_URL", "RAGSTREAM_COMMAND_URL", "RAGSTREAM_API_KEY",
                 "RAGSTREAM_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return path


def test_the_profile_file_is_private(config: Path) -> None:
    save(config, ProfileFile(current="acme", profiles={"acme": Profile(api_key="rsk_secret")}))
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert load(config).profiles["acme"].api_key == "rsk_secret"
    config.chmod(0o644)
    save(config, load(config))  # rewriting narrows a file someone widened
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_default_location_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "ragstream" / "profiles.json"
    assert config_path({"RAGSTREAM_CONFIG": "/x/p.json", "XDG_CONFIG_HOME": "/y"}) == Path("/x/p.json")


def test_options_beat_the_environment_which_beats_the_profile(config: Path) -> None:
    save(config, ProfileFile(current="acme", profiles={
        "acme": Profile(query_url="http://q.acme", command_url="http://c.acme", api_key="rsk_profile"),
        "ops": Profile(token="jwt-ops"),
    }))  # fmt: skip
    found = resolve(environ={"RAGSTREAM_CONFIG": str(config)})
    assert (found.profile, found.query_url, found.command_url) == ("acme", "http://q.acme", "http://c.acme")
    assert (found.api_key, found.credential_source) == ("rsk_profile", "profile 'acme'")

    env = {
        "RAGSTREAM_CONFIG": str(config),
        "RAGSTREAM_QUERY_URL": "http://q.env/",
        "RAGSTREAM_API_KEY": "rsk_env",
    }
    found = resolve(environ=env)
    assert (found.query_url, found.command_url, found.api_key) == ("http://q.env", "http://c.acme", "rsk_env")
    assert found.credential_source == "RAGSTREAM_API_KEY"
    assert resolve(query_url="http://q.option", environ=env).query_url == "http://q.option"

    ops = resolve(environ={"RAGSTREAM_CONFIG": str(config), "RAGSTREAM_PROFILE": "ops"})
    assert (ops.token, ops.api_key) == ("jwt-ops", None)
    api = get_settings().api
    assert ops.query_url == f"http://{api.query_host}:{api.query_port}"  # the local default


def test_a_profile_asked_for_by_name_must_exist(config: Path) -> None:
    with pytest.raises(ProfileError, match="no profile 'nope'"):
        resolve("nope", environ={"RAGSTREAM_CONFIG": str(config)})
    assert resolve(environ={"RAGSTREAM_CONFIG": str(config)}).has_credential is False  # no file: dev defaults


def test_config_commands_store_use_and_remove_profiles(config: Path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(app, ["config", "set", "query_url", "http://q.one/", "--profile", "one"]).exit_code == 0
    )
    assert (
        runner.invoke(app, ["config", "set", "api_key", "rsk_one_secret", "--profile", "one"]).exit_code == 0
    )
    assert runner.invoke(app, ["config", "set", "token", "jwt-two", "--profile", "two"]).exit_code == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    listed = json.loads(runner.invoke(app, ["config", "list", "--json"]).stdout)
    assert listed["current"] == "one"
    assert listed["profiles"]["one"] == {"query_url": "http://q.one", "command_url": None,
                                         "api_key": "rsk_one_…", "token": None}  # fmt: skip
    assert runner.invoke(app, ["config", "use", "two"]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["--profile", "one", "config", "show", "--json"]).stdout)
    assert (shown["profile"], shown["query_url"], shown["api_key"]) == ("one", "http://q.one", "rsk_one_…")
    assert json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)["token"] == "jwt-two…"
    assert runner.invoke(app, ["config", "use", "three"]).exit_code == ExitCode.NOT_FOUND
    assert runner.invoke(app, ["config", "remove", "two"]).exit_code == 0
    assert load(config).current == "one"


def test_version_and_exit_codes_are_documented() -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("ragstream ")
    assert "4 forbidden" in " ".join(runner.invoke(app, ["--help"]).stdout.split())


def test_an_unreachable_api_is_exit_2_with_a_hint(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSTREAM_QUERY_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    result = CliRunner().invoke(app, ["search", "anything"])
    assert result.exit_code == ExitCode.USAGE
    assert "unreachable" in result.stderr and "hint:" in result.stderr
    as_json = CliRunner().invoke(app, ["search", "anything", "--json"])
    assert as_json.exit_code == ExitCode.USAGE and as_json.stdout == ""
    assert json.loads(as_json.stderr)["exit_code"] == 2


def test_a_missing_profile_is_a_usage_error(config: Path) -> None:
    result = CliRunner().invoke(app, ["--profile", "nope", "whoami"])
    assert result.exit_code == ExitCode.USAGE and "no profile 'nope'" in result.stderr


def test_tables_drop_low_value_columns_instead_of_cutting_every_one() -> None:
    cols = [Col("id", 9), Col("actor", 7), Col("note", 5, wrap=True, min_width=10), Col("position", 1),
            Col("via", 2)]  # fmt: skip
    rows = [["doc-1", "user:someone-with-a-long-name", "a long explanation " * 5, "3:1234", "command-api"]]
    assert fit_columns(cols, rows, 200) == [0, 1, 2, 3, 4]
    kept = fit_columns(cols, rows, 70)
    assert kept == [0, 1, 2, 4]  # `position`, the lowest priority, goes first
    assert fit_columns(cols, rows, 60) == [0, 1, 2]
    table, hidden = fitted_table(cols, rows, 60)
    assert hidden == ["position", "via"]
    from rich.console import Console

    out = Console(width=60, record=True)
    out.print(table)
    text = out.export_text()
    assert "user:someone-with-a-long-name" in text  # shown whole, not "user:s…"
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 60


def test_a_request_the_api_would_refuse_is_refused_before_it_is_sent(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGSTREAM_QUERY_URL", "http://127.0.0.1:9")  # never reached
    result = CliRunner().invoke(app, ["search", "anything", "--consistency-token", "1" * 600])
    assert result.exit_code == ExitCode.USAGE
    assert "consistency_token" in result.stderr and "unreachable" not in result.stderr
