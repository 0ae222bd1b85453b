"""Optional sampling profiles (py-spy, shipped in the dev environment) of the pipeline's processes while
a benchmark's timed section runs, and a plain summary of where their busy time went."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

RATE_HZ = 49


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiles:
    """Samples every named process (pid -> name) into DIR/<name>.txt (collapsed stacks) while open."""

    def __init__(self, folder: Path | None, processes: Mapping[int, str]) -> None:
        self._folder = folder
        self._processes = dict(processes)
        self._running: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Self:
        tool = py_spy()
        if self._folder is None or tool is None:
            return self
        self._folder.mkdir(parents=True, exist_ok=True)
        for pid, name in self._processes.items():
            command = [tool, "record", "--pid", str(pid), "--format", "raw", "--rate", str(RATE_HZ)]
            command += ["--nonblocking", "--output", str(self._folder / f"{name}.txt")]
            self._running.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # py-spy writes its file when interrupted, as after Ctrl-C.
        for process in self._running:
            process.send_signal(signal.SIGINT)
        for process in self._running:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()

    def summaries(self, top: int = 8) -> dict[str, dict[str, float]]:
        if self._folder is None:
            return {}
        return {
            path.stem: summarize(path, top)
            for path in sorted(self._folder.glob("*.txt"))
            if path.stat().st_size
        }


# Frames that say which part of the system a busy stack belongs to, checked leaf first.
COMPONENTS = (
    ("model (torch)", ("torch/", "sentence_transformers/", "transformers/")),
    ("tokenizer", ("tokenizers/",)),
    ("avro codec", ("fastavro", "ragstream/codec")),
    ("keyword index (tantivy)", ("tantivy_index",)),
    ("vector index (qdrant edge)", ("qdrant_edge_index",)),
    ("projection state (sqlite)", ("indexing/state",)),
    ("chunking", ("streams/chunking",)),
    ("postgres (asyncpg)", ("asyncpg", "queries/registry", "embedding_cache", "ragstream/postgres")),
    ("kafka client", ("aiokafka", "kafka/")),
    ("faust / mode", ("faust/", "mode/")),
    ("web (uvicorn, fastapi)", ("uvicorn", "fastapi", "starlette")),
    ("numpy", ("numpy/",)),
)


def summarize(path: Path, top: int = 8) -> dict[str, float]:
    """Share of busy samples per component (the innermost frame that names one wins)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        counts[_component(stack.split(";"))] += samples
    if not total:
        return {}
    shares = {name: round(n / total, 3) for name, n in counts.most_common(top)}
    return {"samples": total, **shares}


def _component(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in COMPONENTS:
            if any(marker in frame for marker in markers):
                return name
    return "other python"
