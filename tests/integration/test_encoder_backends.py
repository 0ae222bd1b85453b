"""The encoder backends on the packaged model: ONNX Runtime agrees with fp32 torch, runs without
torch in its process (the query node), exports offline once into the cache, and "auto" falls back
to torch for a model the ONNX path cannot reproduce."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragstream.embedding import SentenceTransformerEmbedder, load_embedder
from ragstream.embedding.backends import BACKENDS, cpu_flags, unsupported_reason
from ragstream.embedding.sentence_transformer import _bundled_model
from ragstream.embedding.version import embedder_version
from ragstream.settings import EmbeddingSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]
onnxruntime = pytest.importorskip("onnxruntime")

TEXTS = [
    "The with statement wraps a block in the methods of a context manager.",
    "Kafka keeps records in partitions, in order.",
    "short",
    "A much longer passage " + "about exceptions, generators and the import system " * 12,
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def test_onnx_vectors_agree_with_fp32_torch_and_the_export_is_cached(cache_dir: Path) -> None:
    torch_fp32 = load_embedder(EmbeddingSettings(backend="torch-fp32", cache_dir=cache_dir))
    onnx_fp32 = load_embedder(EmbeddingSettings(backend="onnx-fp32", cache_dir=cache_dir))
    _, weights = _bundled_model()
    assert onnx_fp32.version == embedder_version(weights, BACKENDS["onnx-fp32"])
    assert torch_fp32.version == embedder_version(weights, BACKENDS["torch-fp32"])
    reference, got = torch_fp32.embed_passages(TEXTS), onnx_fp32.embed_passages(TEXTS)
    assert got.shape == reference.shape == (len(TEXTS), 384)
    assert np.min(np.sum(reference * got, axis=1)) > 0.9999  # padded and truncated texts alike
    assert np.allclose(onnx_fp32.embed_query(TEXTS[1]), got[1], atol=1e-5)
    exports = list(cache_dir.glob("onnx-fp32-*/model.onnx"))
    assert len(exports) == 1  # a second load reuses it
    assert not (Path(__file__).parents[2] / "model.onnx").exists()


@pytest.mark.skipif(
    unsupported_reason(BACKENDS["onnx-int8"], cpu_flags()) is not None, reason="int8 needs a CPU with VNNI"
)
def test_int8_vectors_stay_close_to_fp32_torch_and_rank_alike(cache_dir: Path) -> None:
    # What "auto" gives workers and query nodes on a VNNI CPU (its nDCG@10 is BENCHMARKS.md's).
    torch_fp32 = load_embedder(EmbeddingSettings(backend="torch-fp32", cache_dir=cache_dir))
    int8 = load_embedder(EmbeddingSettings(backend="onnx-int8", cache_dir=cache_dir))
    assert int8.version == embedder_version(_bundled_model()[1], BACKENDS["onnx-int8"])
    reference, got = torch_fp32.embed_passages(TEXTS), int8.embed_passages(TEXTS)
    assert 0.98 < np.min(np.sum(reference * got, axis=1)) < 0.99999  # quantised: close, not equal
    query = int8.embed_query("how does a context manager work")
    assert int(np.argmax(got @ query)) == int(np.argmax(reference @ query)) == 0
    assert len(list(cache_dir.glob("onnx-int8-*/model.onnx"))) == 1


def test_a_query_process_on_onnx_never_imports_torch(cache_dir: Path) -> None:
    code = (
        "import json, sys\n"
        "from ragstream.embedding import load_embedder\n"
        "from ragstream.queries.api.app import create_app\n"
        "from ragstream.settings import EmbeddingSettings\n"
        f"e = load_embedder(EmbeddingSettings(backend='onnx-fp32', cache_dir={str(cache_dir)!r}))\n"
        "e.embed_query('what is a context manager')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'st': 'sentence_transformers' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"torch": False, "st": False}


def test_auto_falls_back_to_torch_for_a_model_onnx_cannot_reproduce(tmp_path: Path, cache_dir: Path) -> None:
    bundled, _ = _bundled_model()
    model = tmp_path / "cls-model"
    shutil.copytree(bundled, model)
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))

    embedder = load_embedder(EmbeddingSettings(model="cls", model_path=model, cache_dir=cache_dir))

    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.version == embedder_version(f"path:{model}", BACKENDS["torch-fp32"])
    assert embedder.embed_query("hello").shape == (384,)


def test_eval_ranks_one_backends_chunks_with_another_backends_queries(cache_dir: Path) -> None:
    from ragstream.bench.eval.backends import compare_backends
    from ragstream.bench.eval.beir import CorpusDocument, Dataset
    from ragstream.settings import ChunkingSettings

    corpus = [CorpusDocument(f"d{i}", "", text) for i, text in enumerate(TEXTS)]
    queries = {"q0": "context managers and the with statement", "q1": "ordered records in Kafka partitions"}
    dataset = Dataset("tiny", "test", corpus, queries, {"q0": {"d0": 1}, "q1": {"d1": 1}})
    report = compare_backends(
        dataset, ["onnx-fp32/torch-fp32"], ChunkingSettings(), EmbeddingSettings(cache_dir=cache_dir)
    )
    pair = report["backends"]["onnx-fp32/torch-fp32"]
    assert "+onnx-fp32+" in pair["version"]
    assert "+torch-fp32+" in pair["query_version"]
    assert pair["ndcg@10"] == report["backends"]["torch-fp32"]["ndcg@10"] == 1.0
    assert report["within_tolerance"] == ["torch-fp32", "onnx-fp32/torch-fp32"]
