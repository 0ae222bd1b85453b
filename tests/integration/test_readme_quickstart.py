"""The README's quick start, run as written with a tenant key and authentication on.

The lines that start or stop infrastructure (`make install`, `stack up`, `streams run &`, `serve … &`,
`stack down`) are done by the fixture instead: the shared local stack, and the same three services
(`ragstream streams run`, `serve commands`, `serve queries`) with the default profile's
authentication and limits on, isolated by topic prefix, schema and ports. Every other line runs in
bash exactly as the README has it, from the repository root, with `ragstream` on PATH.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ragstream.local.pipeline import LocalPipeline, isolated_env
from ragstream.settings import PROJECT_ROOT, Settings
from tests.conftest import unique_tag
from tests.integration.helpers import logs_on_failure

pytestmark = [pytest.mark.integration, pytest.mark.slow]
README = PROJECT_ROOT / "README.md"
# Lines the fixture stands in for (see the module docstring).
INFRASTRUCTURE = re.compile(r"^(make install|ragstream stack (up|down)|ragstream (streams run|serve \w+) &)")


def quickstart_lines() -> list[str]:
    """The commands of the block after `<!-- quickstart -->`, comments stripped."""
    text = README.read_text()
    block = re.search(r"<!-- quickstart -->\n```sh\n(.*?)\n```", text, re.S)
    assert block, "README.md lost its quick start block"
    lines = []
    for raw in block.group(1).splitlines():
        # A comment starts at "  #" (two spaces before it): "#" inside a command stays.
        line = re.split(r"\s{2,}#", raw, maxsplit=1)[0].strip()
        if line:
            lines.append(line)
    return lines


def test_the_quick_start_block_is_what_this_test_expects() -> None:
    lines = quickstart_lines()
    skipped = [line for line in lines if INFRASTRUCTURE.match(line)]
    assert len(skipped) == 6, skipped
    assert any("auth create-key" in line and "--tenant acme" in line for line in lines)
    assert not any("--tenant" in line for line in lines if "create-key" not in line)


def test_the_readme_quick_start_works_with_a_tenant_key(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tag = unique_tag("readme")
    work = Path(tmp_path_factory.mktemp(tag))
    env = isolated_env(
        tag, work, RAGSTREAM_AUTH__ENABLED="true", RAGSTREAM_LIMITS__ENABLED="true",
        RAGSTREAM_AUTH__API_KEYS_FILE=str(work / "api-keys.json"),
    )  # fmt: skip
    # `ragstream` on PATH, running this checkout's code with this interpreter.
    bin_dir = work / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "ragstream"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ragstream.cli.main "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    commands = [line for line in quickstart_lines() if not INFRASTRUCTURE.match(line)]
    script = "set -euo pipefail\n" + "".join(f"echo '$ {c}'\n{c}\n" for c in commands)

    with logs_on_failure(LocalPipeline(env, work / "logs", workers=1)) as pipeline:
        pipeline.start()
        shell_env = {
            **os.environ, **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "RAGSTREAM_CONFIG": str(work / "profiles.json"), "COLUMNS": "100",
        }  # fmt: skip
        shell_env.pop("RAGSTREAM_API_KEY", None)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=PROJECT_ROOT,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    out = done.stdout
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}"
    assert "key:app: tenant acme, scopes read, write" in out
    assert "to tenant 'acme' through the command API" in done.stderr
    search = out.split('$ ragstream search "consistency token"')[1].split("$ ragstream ask")[0]
    assert "architecture.md" in search  # docs/architecture.md explains consistency tokens
    answer = out.split("$ ragstream ask")[1]
    # Markers number the retrieved passages; the answer cites the ones it quotes, not always the first.
    assert re.search(r"\[\d+\] \S+\.md", answer), answer
    assert "403" not in done.stderr and "cannot act for tenant" not in done.stderr
