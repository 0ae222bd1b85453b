"""The embedding cache in PostgreSQL is kept per tenant: a tenant never gets (and so never learns of)
a vector another tenant's text put there, unless the two are configured to share."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from ragstream.settings import Settings
from ragstream.streams.embedding_cache import CacheScopes, EmbeddingCache
from ragstream.streams.stages import EMBEDDINGS, EmbeddingStage, text_hash

pytestmark = pytest.mark.integration


class CountingEmbedder:
    name = "counting-test"
    version = "1"
    dimension = 4

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.embedded.extend(texts)
        return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
        raise NotImplementedError


def chunked(tenant: str, *texts: str) -> dict[str, Any]:
    chunks = [{"chunk_number": i, "text": t, "content_hash": text_hash(t)} for i, t in enumerate(texts)]
    return {"tenant": tenant, "document_id": "d", "chunks": chunks}


def test_a_text_cached_for_one_tenant_is_computed_again_for_another(isolated_settings: Settings) -> None:
    async def run() -> None:
        cache = await EmbeddingCache.connect(isolated_settings.postgres)
        try:
            embedder = CountingEmbedder()
            stage = EmbeddingStage(embedder, cache, CacheScopes())
            hits = EMBEDDINGS.labels("cache")._value.get()
            first = await stage.embed([chunked("acme", "the merger closes on friday")])
            again = await stage.embed([chunked("acme", "the merger closes on friday")])
            other = await stage.embed([chunked("globex", "the merger closes on friday")])
            assert [r["embeddings_computed"] for r in (*first, *again, *other)] == [1, 0, 1]
            assert embedder.embedded == ["the merger closes on friday"] * 2
            assert EMBEDDINGS.labels("cache")._value.get() - hits == 1  # acme's own re-ingest only
            assert first[0]["chunks"][0]["vector"] == other[0]["chunks"][0]["vector"]

            shared = EmbeddingStage(embedder, cache, CacheScopes(("acme-eu", "acme-us")))
            await shared.embed([chunked("acme-eu", "shared handbook")])
            reused = await shared.embed(
                [chunked("acme-us", "shared handbook"), chunked("initech", "shared handbook")]
            )
            assert [r["embeddings_computed"] for r in reused] == [0, 1]  # initech does not share
            everyone = EmbeddingStage(embedder, cache, CacheScopes(("all",)))
            await everyone.embed([chunked("t1", "common text")])
            assert (await everyone.embed([chunked("t2", "common text")]))[0]["embeddings_computed"] == 0
        finally:
            await cache.close()

    asyncio.run(run())
