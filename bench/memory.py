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


def rss_mb(pid: int) -> float:
    """A process's resident memory now, in MiB."""
    rss: int = psutil.Process(pid).memory_info().rss
    return round(rss / MB, 1)


class PeakMemory:
    def __init__(self, names: Callable[[], Mapping[int, str]] | None = None, interval_s: float = 0.2) -> None:
        self._names = names or dict
        self._interval = interval_s
        self._peaks: dict[int, int] = {}
        self._known: dict[int, str] = {}
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
        # Names become known only once a child is up; remember them, so a pid's early samples (model
        # loading, the usual peak) and its samples after the pipeline forgot it share its name.
        self._known.update(self._names())
        for process in [self._me, *self._me.children(recursive=True)]:
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            self._peaks[process.pid] = max(self._peaks.get(process.pid, 0), rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def peaks_mb(self) -> dict[str, float]:
        """Peak RSS in MiB per process name ("bench" is this process)."""
        self.sample()
        # The kernel's own high-water mark of this process catches spikes between two samples.
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peaks: dict[str, int] = {"bench": max(self._peaks.get(self._me.pid, 0), own)}
        for pid, value in self._peaks.items():
            if pid != self._me.pid:
                name = self._known.get(pid, f"pid-{pid}")
                peaks[name] = max(peaks.get(name, 0), value)
        return {name: round(value / MB, 1) for name, value in sorted(peaks.items())}
