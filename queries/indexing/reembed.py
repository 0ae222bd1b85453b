"""Re-embedding inside the query node, for a generation built with another model than the log's.

The embeddings topic carries each chunk's text next to its vector, so a rebuild with a new model
needs no re-chunking: chunks embedded with another model get new vectors before projection. Live
writes keep arriving with the stream workers' model until they are switched, so the generation's
feed keeps this transform for its whole life; it costs nothing once the models match.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ragstream.queries.indexing.projector import LogRecord
from ragstream.streams.embedding.base import Embedder, Vectors

log = logging.getLogger("ragstream.queries.reembed")


class Reembedder:
    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._warned = False

    async def __call__(self, records: list[LogRecord]) -> list[LogRecord]:
        stale = [i for i, r in enumerate(records) if self._needs_vectors(r)]
        if not stale:
            return records
        if not self._warned:
            self._warned = True
            log.warning(
                "re-embedding chunks of %s with %s in the query node; switch the stream workers to it",
                records[stale[0]].record.get("model"),
                self.embedder.name,
            )
        texts = [c["text"] for i in stale for c in records[i].record["chunks"]]
        # The model releases the GIL; a thread keeps the event loop (and queries) moving.
        vectors = iter(await asyncio.to_thread(self.embedder.embed_passages, texts))
        out = list(records)
        for i in stale:
            rec = records[i]
            chunks = [dict(c, vector=next(vectors).tolist()) for c in rec.record["chunks"]]
            record: dict[str, Any] = dict(
                rec.record,
                chunks=chunks,
                model=self.embedder.name,
                model_version=self.embedder.version,
                dimension=self.embedder.dimension,
            )
            out[i] = LogRecord(rec.name, record, rec.topic, rec.partition, rec.offset)
        return out

    def _needs_vectors(self, rec: LogRecord) -> bool:
        return rec.name == "DocumentEmbedded" and rec.record.get("model") != self.embedder.name


class LazyEmbedder:
    """An embedder that loads its model on first use: replaying records that already carry the
    generation's model needs no model at all (loading one takes seconds)."""

    def __init__(self, name: str, dimension: int, load: Callable[[], Embedder]) -> None:
        self.name = name
        self.dimension = dimension
        self.version = "not loaded"  # the model's own, once loaded (Reembedder reads it after embedding)
        self._load = load
        self._model: Embedder | None = None
        self._lock = threading.Lock()

    def _loaded(self) -> Embedder:
        with self._lock:
            if self._model is None:
                self._model = self._load()
                self.version = self._model.version
            return self._model

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._loaded().embed_passages(texts)

    def embed_query(self, text: str) -> Vectors:
        return self._loaded().embed_query(text)
