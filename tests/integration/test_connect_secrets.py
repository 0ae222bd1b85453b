"""Kafka Connect as deploy/local/connect.sh configures it resolves connector secrets through config
providers, and only the ones it allows: a dedicated worker (own port, group and folder) is started
for this, with a secret in its environment and another in its secrets folder.

The plugin's validation connects to PostgreSQL as the configured user, so a reference the worker did
not resolve shows up as a role that does not exist.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragstream.local.processes import free_port
from ragstream.settings import PROJECT_ROOT, Settings
from ragstream.streams.cdc.connect import ConnectClient
from tests.conftest import unique_tag
from tests.integration.helpers import delete_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]
PLUGIN = "io.debezium.connector.postgresql.PostgresConnector"


def connect_sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PROJECT_ROOT / "deploy" / "local" / "connect.sh"), command],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=480, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def worker(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, str]]:
    tag = unique_tag("cs")
    stack_dir = Path(tmp_path_factory.mktemp(tag))
    user_variable = f"RAGSTREAM_CDC_SECRET_USER_{tag.upper()}"
    env = {
        "RAGSTREAM_STACK__DIR": str(stack_dir), "RAGSTREAM_STACK__CONNECT_PORT": str(free_port()),
        "RAGSTREAM_STACK__CONNECT_GROUP": f"{tag}-connect", "RAGSTREAM_STACK__CONNECT_HEAP": "384m",
        # In the worker's environment: one variable it may resolve, one it must not.
        user_variable: local_stack.postgres.user, "OTHER_SECRET": local_stack.postgres.user,
    }  # fmt: skip
    started = connect_sh("start", env)
    try:
        assert started.returncode == 0, started.stderr
        yield (
            f"http://127.0.0.1:{env['RAGSTREAM_STACK__CONNECT_PORT']}",
            stack_dir / "connect" / "secrets",
            user_variable,
        )
    finally:
        connect_sh("stop", env)
        delete_topics(local_stack, f"{tag}-connect")


def errors_for(url: str, settings: Settings, user: str) -> list[str]:
    pg = settings.postgres
    config = {
        "name": "secrets-test", "connector.class": PLUGIN, "database.hostname": pg.host, "database.port": str(pg.port),
        "database.user": user, "database.password": "", "database.dbname": pg.database,
        "topic.prefix": "secrets-test", "plugin.name": "pgoutput",
    }  # fmt: skip
    with ConnectClient(url) as client:
        return client.validate(config)


def test_the_worker_resolves_allowed_references_and_only_those(
    worker: tuple[str, Path, str], local_stack: Settings
) -> None:
    url, secrets_dir, user_variable = worker
    assert errors_for(url, local_stack, local_stack.postgres.user) == []  # the baseline connects

    # ${env:...} of an allowed variable: resolved to the real user, so validation connects.
    assert errors_for(url, local_stack, f"${{env:{user_variable}}}") == []
    # ${file:...} under the secrets folder: resolved too.
    secrets = secrets_dir / "db.properties"
    secrets.write_text(f"{user_variable}={local_stack.postgres.user}\n")
    assert errors_for(url, local_stack, f"${{file:{secrets}:{user_variable}}}") == []

    # A variable outside the allowlist, or a file outside the secrets folder, stays unresolved.
    assert 'role "${env:OTHER_SECRET}" does not exist' in str(
        errors_for(url, local_stack, "${env:OTHER_SECRET}")
    )
    outside = secrets_dir.parent / "elsewhere.properties"
    outside.write_text(f"{user_variable}={local_stack.postgres.user}\n")
    assert "does not exist" in str(errors_for(url, local_stack, f"${{file:{outside}:{user_variable}}}"))
