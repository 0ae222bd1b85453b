"""Recent query embeddings: people repeat and re-run queries (paging, a refresh, a dashboard), and
the query embedding is most of a search's time."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ragstream.embedding.base import Embedder, Vectors


class QueryVectorCache:
    """A thread-safe LRU of query vectors, keyed by the embedder's name and version as well as the
    text, so a swap to another model (a rebuild) never serves a vector of the old one, and by the
    tenant: a hit answers measurably faster, so a shared entry would tell one tenant what another
    asked (the embedding cache is kept per tenant for the same reason)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[tuple[str, str, str, str], Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed_query(self, embedder: Embedder, text: str, tenant: str) -> Vectors:
        if self.size <= 0:
            return embedder.embed_query(text)
        key = (tenant, embedder.name, embedder.version, text)
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
                self.hits += 1
                return vector
            self.misses += 1
        # Outside the lock: two threads may embed the same new text once each, never block each other.
        vector = embedder.embed_query(text)
        vector.flags.writeable = False  # shared between callers
        with self._lock:
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector
