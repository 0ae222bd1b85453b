"""A clean install of ragstream is one import root: exactly one top-level package in site-packages,
carrying the sides, the Avro contracts and the SQL schemas as real files."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest

from ragstream.settings import PROJECT_ROOT

pytestmark = [pytest.mark.unit, pytest.mark.slow]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site-packages")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PROJECT_ROOT)],
        check=True, cwd=build, env={**os.environ, "PIP_NO_CACHE_DIR": "1"},
    )  # fmt: skip
    return target


def files_of(target: Path) -> list[PurePosixPath]:
    (dist,) = [d for d in metadata.distributions(path=[str(target)]) if d.metadata["Name"] == "ragstream"]
    return [PurePosixPath(str(f)) for f in dist.files or []]


def test_one_top_level_package(installed: Path) -> None:
    tops = {
        f.parts[0] for f in files_of(installed) if not f.parts[0].endswith(".dist-info") and len(f.parts) > 1
    }
    assert tops - {"bin", ".."} == {"ragstream"}


def test_the_sides_and_their_data_are_real_files_of_the_package(installed: Path) -> None:
    names = {str(f) for f in files_of(installed)}
    for module in ("commands/api/app.py", "streams/app.py", "queries/service.py", "bench/cli.py"):
        assert f"ragstream/{module}" in names, module
        assert not (installed / "ragstream" / module).is_symlink()
    assert "ragstream/schemas/UpsertDocument.v1.avsc" in names
    assert (
        "ragstream/queries/registry/schema.sql" in names and "ragstream/streams/embedding_cache.sql" in names
    )


def test_the_installed_package_reads_its_own_contracts(installed: Path) -> None:
    code = (
        "import ragstream, ragstream.codec as c, ragstream.settings as s;"
        "codec = c.load_codec(s.Settings().codec);"
        f"assert ragstream.__file__.startswith({str(installed)!r}), ragstream.__file__;"
        "print(len(codec.names))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(installed)}, cwd=installed,
    )  # fmt: skip
    assert int(out.stdout) >= 10
