"""Caps glibc's malloc arenas in the long-running services.

glibc gives threads that allocate at the same time arenas of their own, up to eight per core, and
memory freed into one arena is not handed to another. The query API allocates from many threads
(the web stack's, the index feed's, qdrant-edge's, tantivy's and ONNX Runtime's), so its resident
memory grew with arenas that mostly sat on freed memory: with 100k chunks indexed, two arenas took
its resident memory from 1,064 to 854-870 MiB, and its peak (an HNSW build) from 1,547 to
1,340-1,354 MiB, at no cost in latency that the benchmark could tell (BENCHMARKS.md, "Memory").

`MALLOC_ARENA_MAX`, glibc's own variable, still wins when it is set: glibc reads it at start-up and
this leaves it alone. Elsewhere (musl, macOS) there is no `mallopt` and nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc to `arenas` malloc arenas from now on (call it before the service starts its
    threads: arenas made before stay). Whether the cap was set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
