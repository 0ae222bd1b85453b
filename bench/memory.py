"""Peak resident memory of this process and of every process it started, sampled in the background.

Children are named by the caller (a pipeline's worker, query API); any other descendant is counted
under its own pid so nothing escapes the report.
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self

import psutil

MB = 1024 * 1024


class PeakMemory:
    def __init__(self, names: Callable[[], Mapping[int, str]] | None = None, interval_s: float = 0.2) -> None:
        self._names = names or dict
        self._interval = interval_s
        self._peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._me = psutil.Process()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        names = dict(self._names())
        for process in [self._me, *self._me.children(recursive=True)]:
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            name = "bench" if process.pid == self._me.pid else names.get(process.pid, f"pid-{process.pid}")
            self._peaks[name] = max(self._peaks.get(name, 0), rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def peaks_mb(self) -> dict[str, float]:
        self.sample()
        peaks = dict(self._peaks)
        # The kernel's own high-water mark of this process catches spikes between two samples.
        peaks["bench"] = max(peaks.get("bench", 0), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        return {name: round(value / MB, 1) for name, value in sorted(peaks.items())}
