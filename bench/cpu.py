"""CPU time of a process tree, for benchmarks that ask how much of the machine a piece of work took
(the wall time alone cannot tell a job bound by its cores from one waiting on a lock or the GIL)."""

from __future__ import annotations

import psutil


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) used so far by a process and its descendants: the children it
    has waited for are in its own counters, the ones still running (or not yet reaped) are read
    from their own. Each process is counted once, so two readings subtract to the work between."""
    root = psutil.Process(pid)
    times = root.cpu_times()
    total = float(times.user + times.system + times.children_user + times.children_system)
    for child in root.children(recursive=True):
        try:
            own = child.cpu_times()
        except psutil.Error:
            continue  # gone between the listing and the reading: its parent's counters have it
        total += own.user + own.system
    return total
