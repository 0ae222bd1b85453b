"""`tree_cpu_s`: the CPU time of a process tree, counting children running and finished, each once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ragstream.bench.cpu import tree_cpu_s

pytestmark = pytest.mark.unit

BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"
BURN_THEN_SLEEP = BURN + "time.sleep(30)\n"


def test_a_running_child_counts_and_still_counts_once_it_has_been_waited_for() -> None:
    before = tree_cpu_s(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", BURN_THEN_SLEEP.format(s=0.6)])
    try:
        deadline = time.monotonic() + 30
        while tree_cpu_s(os.getpid()) - before < 0.6:  # running: read from its own counters
            assert time.monotonic() < deadline, "the running child's CPU time never showed"
            time.sleep(0.05)
        running = tree_cpu_s(os.getpid()) - before
    finally:
        child.kill()
        child.wait()
    finished = tree_cpu_s(os.getpid()) - before  # reaped: now in this process's children counters
    # Moved from one counter to the other, not doubled and not lost. The two readings are sums of
    # clock-tick counts taken in a different order (and the kernel rescales user/system at exit),
    # so equal totals can differ by a rounding error or a tick: CI once read 0.61 then 0.6099999999999.
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert running >= 0.6
    assert running - 2 * tick <= finished < running + 0.5
