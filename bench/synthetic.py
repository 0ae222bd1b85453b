"""DocumentEmbedded records with real-ish text and random unit vectors, for benchmarks that need far more
chunks than the model can embed here in reasonable time (their vectors carry no meaning: latency and
throughput only, never quality)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ragstream.bench.corpus import ACTOR, TENANT, chunk_texts, documents
from ragstream.settings import ChunkingSettings

DIMENSION = 384


def base_texts() -> list[str]:
    return chunk_texts(documents(79), ChunkingSettings())


def unit_vectors(rng: np.random.Generator, count: int, dimension: int = DIMENSION) -> np.ndarray[Any, Any]:
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def embedded_records(
    chunks: int, *, chunks_per_doc: int = 10, seed: int = 0, topic: str = "bench"
) -> Iterator[dict[str, Any]]:
    """Records shaped exactly like the embed stage's output (encodable with the DocumentEmbedded contract)."""
    rng = np.random.default_rng(seed)
    texts = base_texts()
    now = datetime.now(UTC).replace(microsecond=0)
    for doc, first in enumerate(range(0, chunks, chunks_per_doc)):
        count = min(chunks_per_doc, chunks - first)
        vectors = unit_vectors(rng, count)
        body = []
        for n in range(count):
            # The document number makes each chunk's text unique, as in a real corpus.
            text = f"{texts[(first + n) % len(texts)]} (doc {doc})"
            body.append({
                "chunk_number": n, "text": text, "start": 0, "end": len(text), "heading": "",
                "content_hash": uuid.uuid4().hex, "vector": vectors[n].tolist(),
            })  # fmt: skip
        command_id = str(uuid.uuid4())
        yield {
            "schema_version": 1, "command_id": command_id, "tenant": TENANT, "document_id": f"syn/{doc}",
            "actor": ACTOR, "event_time": now, "source": {"via": "bench"}, "event_id": str(uuid.uuid4()),
            "version": 1, "recorded_time": now, "command_position": f"{topic}/0/{doc}",
            "title": f"Synthetic document {doc}", "content_version": 1, "metadata": {}, "acl": [],
            "chunker": "synthetic", "model": "random-unit-vectors", "model_version": "0",
            "dimension": DIMENSION, "embeddings_computed": count, "chunks": body,
        }  # fmt: skip
