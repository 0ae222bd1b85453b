"""Extraction in a child process with a time and a memory bound, so a hostile file (a zip bomb, a PDF
that makes its parser loop) costs one rejected command, never a stuck or killed stream worker.

The parent writes `media type\\n limits JSON\\n bytes` to the child's stdin and reads one JSON object
from its stdout: {"text", "locations"} or {"error"}. RLIMIT_AS caps the child's address space; the
timeout kills it.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from dataclasses import asdict
from typing import Any

from ragstream.streams.documents.formats import Extracted, ExtractionFailed, Limits, extract


def _limit_memory(megabytes: int) -> None:
    size = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))


async def extract_bounded(
    data: bytes, media_type: str, limits: Limits, *, timeout_s: float, memory_mb: int
) -> Extracted:
    """Runs `extract` in a child process; raises ExtractionFailed on its error, timeout or crash."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ragstream.streams.documents.sandbox",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: _limit_memory(memory_mb),
    )  # fmt: skip
    request = media_type.encode() + b"\n" + json.dumps(asdict(limits)).encode() + b"\n" + data
    try:
        out, err = await asyncio.wait_for(process.communicate(request), timeout=timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ExtractionFailed(f"extraction took longer than its limit of {timeout_s:g}s") from None
    try:
        answer: dict[str, Any] = json.loads(out)
    except ValueError:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {process.returncode}"]
        if "MemoryError" in err.decode(errors="replace") or process.returncode in (-9, 137):
            raise ExtractionFailed(f"extraction went over its memory limit of {memory_mb} MB") from None
        raise ExtractionFailed(f"extraction crashed: {tail[0][:300]}") from None
    if "error" in answer:
        raise ExtractionFailed(str(answer["error"]))
    return Extracted(answer["text"], [(int(s), int(e), str(label)) for s, e, label in answer["locations"]])


def main() -> None:
    raw = sys.stdin.buffer.read()
    media_type, limits_json, data = raw.split(b"\n", 2)
    try:
        limits = Limits(**json.loads(limits_json))
        result = extract(data, media_type.decode(), limits)
        answer: dict[str, Any] = {"text": result.text, "locations": result.locations}
    except ExtractionFailed as exc:
        answer = {"error": str(exc)}
    except MemoryError:
        answer = {"error": "extraction went over its memory limit"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    # No interpreter teardown: a parser's half-built objects need not be collected.
    os._exit(0)


if __name__ == "__main__":
    main()
