"""Which encoder backend runs the model: fp32 torch, torch under bf16 autocast, or ONNX Runtime
(fp32, or int8 with dynamic quantisation).

"auto" resolves to the first backend of `AUTO_PREFERENCE` that this CPU and installation support,
for what the process embeds: the stream workers embed passages in batches, where throughput counts;
a query node embeds one query at a time, where latency counts (and ONNX keeps torch out of it). The
orders are measurements, not guesses: `ragstream bench encoder` (passages/s, query latency,
agreement with fp32) and `ragstream eval --backends` (nDCG@10 on SciFact, also of one backend's
passages ranked with another's queries) ranked them, and only backends within 0.005 nDCG@10 of
fp32 torch qualify (BENCHMARKS.md, "Encoder backends", "AMX" and "int8").
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from ragstream.exceptions import ConfigurationError


@dataclass(frozen=True)
class Backend:
    name: str
    runtime: str  # "torch" or "onnx"
    precision: str  # "fp32", "bf16" or "int8"
    # CPU flags (/proc/cpuinfo) of which at least one is needed to run it fast; empty: any CPU.
    cpu_flags: frozenset[str] = frozenset()


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("torch-fp32", "torch", "fp32"),
        # bf16 is 2.5x fp32 torch on AMX. With AVX512-BF16 alone it was 0.6x on a Xeon and ~2.7x on
        # a Zen 5 EPYC (measured), which the flags cannot tell apart: AMX it needs, and int8 is as
        # fast on that EPYC without torch's memory.
        Backend("torch-bf16", "torch", "bf16", frozenset({"amx_bf16"})),
        Backend("onnx-fp32", "onnx", "fp32"),
        Backend("onnx-int8", "onnx", "int8", frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})),
    )
}

Role = Literal["passages", "queries"]

# Every flag a backend asks for: a CPU that had them all. The flags say where a backend runs fast,
# not what it computes, so an evaluation of its vectors' quality may run it anywhere (slowly).
ANY_CPU: frozenset[str] = frozenset().union(*(b.cpu_flags for b in BACKENDS.values()))

# Fastest first, per role, among the backends that kept SciFact nDCG@10 within 0.005 of fp32 torch
# on the whole train split, confirmed on NFCorpus (measured, see BENCHMARKS.md); a backend the CPU
# cannot run fast is skipped. torch-fp32 is always last, so "auto" always resolves. A query node may
# then embed with another backend than the workers; those pairs were evaluated as such.
AUTO_PREFERENCE: dict[Role, tuple[str, ...]] = {
    # Passages/s against fp32 torch: bf16 2.47x on AMX (0.6x without it), where int8 is 1.28x;
    # int8 2.75x and ONNX fp32 1.99x on an AMD EPYC with VNNI.
    "passages": ("torch-bf16", "onnx-int8", "onnx-fp32", "torch-fp32"),
    # One query: int8 2.5 ms, ONNX fp32 4.0 ms, torch 8.6 ms on the EPYC; 5.1 / 7.9 / 18-22 ms on
    # the AMX Xeon. Both ONNX backends keep torch out of a query node.
    "queries": ("onnx-int8", "onnx-fp32", "torch-fp32"),
}


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo is not there (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def runtime_installed(runtime: str) -> bool:
    """Whether a backend's runtime can be imported here (checked without importing it)."""
    modules = {"torch": ("torch", "sentence_transformers"), "onnx": ("onnxruntime", "tokenizers")}
    return all(importlib.util.find_spec(module) is not None for module in modules[runtime])


def unsupported_reason(
    backend: Backend, flags: frozenset[str], installed: Callable[[str], bool] = runtime_installed
) -> str | None:
    """Why this backend cannot run here, or None when it can."""
    if not installed(backend.runtime):
        return f"{backend.runtime} runtime is not installed"
    if backend.cpu_flags and not backend.cpu_flags & flags:
        return f"the CPU has none of {', '.join(sorted(backend.cpu_flags))}"
    return None


def candidate_backends(
    requested: str,
    *,
    role: Role = "queries",
    flags: frozenset[str] | None = None,
    installed: Callable[[str], bool] = runtime_installed,
    preference: Iterable[str] | None = None,
) -> list[Backend]:
    """The backends to try, in order: the requested one alone (an error if it cannot run here), or
    for "auto" every one of the role's preference that can, so a backend that fails to load for a
    model falls back to the next."""
    flags = cpu_flags() if flags is None else flags
    preference = AUTO_PREFERENCE[role] if preference is None else preference
    if requested != "auto":
        if requested not in BACKENDS:
            raise ConfigurationError(f"unknown embedding backend {requested!r}; one of {', '.join(BACKENDS)}")
        reason = unsupported_reason(BACKENDS[requested], flags, installed)
        if reason is not None:
            raise ConfigurationError(f"embedding backend {requested} cannot run here: {reason}")
        return [BACKENDS[requested]]
    usable = [BACKENDS[n] for n in preference if unsupported_reason(BACKENDS[n], flags, installed) is None]
    if not usable:
        raise ConfigurationError(
            "no embedding backend can run here (neither torch nor onnxruntime installed)"
        )
    return usable


def auto_backend(role: Role) -> str:
    """The backend "auto" resolves to here for the role (the first candidate; load_embedder falls
    back to the next only if that one fails to load)."""
    return candidate_backends("auto", role=role)[0].name
