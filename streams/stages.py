"""The work of the chunking and embedding processors, kept apart from faust so it can be tested alone."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import Counter, Histogram

from ragstream.embedding.base import Embedder
from ragstream.embedding.passage import passage_input
from ragstream.embedding.tokenizer import tokenizer_file
from ragstream.settings import ChunkingProfile, ChunkingSettings, EmbeddingSettings
from ragstream.streams.chunking import ChunkingConfig
from ragstream.streams.documents.located import chunk_located
from ragstream.streams.embedding_cache import CacheKey, CacheScopes, EmbeddingCache

EMBEDDINGS = Counter("ragstream_embeddings_total", "Chunk embeddings by origin", ["origin"])
EMBED_BATCH = Histogram(
    "ragstream_embedding_batch_size", "Passages per model call", buckets=(1, 4, 8, 16, 32, 64, 128, 256)
)
EMBED_SECONDS = Histogram("ragstream_embedding_seconds", "Time per model call")

# Rejections travel on too: they advance the position that read-your-writes waits for.
PASS_THROUGH = frozenset({"DocumentDeleted", "DocumentAccessUpdated", "CommandRejected"})


def chunker_id(config: ChunkingConfig) -> str:
    base = f"structure-v1:max={config.max_tokens},overlap={config.overlap_tokens},min={config.min_tokens}"
    # Budgets in the model's tokens make other chunks than the estimate: say so (old ids unchanged).
    return f"{base},tokens={Path(config.tokenizer).parent.name}" if config.tokenizer else base


def chunking_config(profile: ChunkingProfile, tokenizer: str = "") -> ChunkingConfig:
    return ChunkingConfig(
        max_tokens=profile.max_tokens, overlap_tokens=profile.overlap_tokens, min_tokens=profile.min_tokens,
        tokenizer=tokenizer,
    )  # fmt: skip


def budget_tokenizer(settings: ChunkingSettings, embedding: EmbeddingSettings) -> str:
    """The tokenizer file chunk budgets are counted with: the embedding model's own, unless the
    settings ask for the estimate or the model folder has none."""
    if settings.tokenizer == "estimate":
        return ""
    file = tokenizer_file(embedding)
    return str(file) if file is not None else ""


class ChunkingPolicy:
    """Picks the chunking settings for a document: its tenant's, else its source's, else the default."""

    def __init__(self, settings: ChunkingSettings, tokenizer: str = "") -> None:
        self._default = chunking_config(settings, tokenizer)
        self._tenants = {k: chunking_config(v, tokenizer) for k, v in settings.per_tenant.items()}
        self._sources = {k: chunking_config(v, tokenizer) for k, v in settings.per_source.items()}

    def for_document(self, tenant: str, metadata: Mapping[str, str]) -> ChunkingConfig:
        if tenant in self._tenants:
            return self._tenants[tenant]
        return self._sources.get(metadata.get("source", ""), self._default)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chunk_upserted(event: Mapping[str, Any], config: ChunkingConfig) -> dict[str, Any]:
    """DocumentUpserted -> DocumentChunked (spans index the extracted text, for citations)."""
    spans = chunk_located(event["content"], event["content_type"], event.get("locations") or [], config)
    carried = ("schema_version", "command_id", "tenant", "document_id", "actor", "event_time", "source",
               "event_id", "version", "recorded_time", "command_position", "title", "metadata", "acl")  # fmt: skip
    record = {k: event[k] for k in carried}
    record["content_version"] = event["version"]
    record["chunker"] = chunker_id(config)
    record["schema_version"] = 2
    record["chunks"] = [
        {
            "chunk_number": s.span.number,
            "text": s.span.text,
            "start": s.span.start,
            "end": s.span.end,
            "heading": s.span.heading,
            "location": s.location,
            "content_hash": text_hash(s.span.text),
        }
        for s in spans
    ]
    return record


class EmbeddingStage:
    """Embeds the chunks of many documents in few model calls; cached vectors are never recomputed."""

    def __init__(
        self, embedder: Embedder, cache: EmbeddingCache | None, scopes: CacheScopes | None = None
    ) -> None:
        self._embedder = embedder
        self._cache = cache
        self._scopes = scopes or CacheScopes()
        self._model_key = f"{embedder.name}@{embedder.version}"

    async def embed(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        per_call: int | None = None,
        turn: Callable[[], AbstractAsyncContextManager[None]] = contextlib.nullcontext,
    ) -> list[dict[str, Any]]:
        """The records with a vector on every chunk. The passages to compute go to the model in calls
        of at most `per_call` (all at once without), each inside its own `turn()`: one long document
        is then several short calls, and whoever waits for the model (an edit behind a bulk import,
        ragstream.streams.lanes) goes between two of them instead of after all of them."""
        # The model input is the chunk with its title and heading path, so a vector is cached by the
        # hash of that input (the same text under another title is another vector), per tenant scope.
        inputs: dict[tuple[int, int], str] = {
            (id(r), c["chunk_number"]): passage_input(r.get("title") or "", c.get("heading") or "", c["text"])
            for r in records
            for c in r["chunks"]
        }
        key_of = {
            (id(r), c["chunk_number"]): (
                self._scopes.of(r["tenant"]),
                text_hash(inputs[(id(r), c["chunk_number"])]),
            )
            for r in records
            for c in r["chunks"]
        }
        keys = sorted(set(key_of.values()))
        cached = await self._cache.get(self._model_key, keys) if self._cache else {}
        missing = [k for k in keys if k not in cached]
        texts_by_hash = {key_of[where][1]: text for where, text in inputs.items()}
        # An input missing in two scopes of one batch is embedded once and cached in both.
        hashes = sorted({h for _, h in missing})
        by_hash: dict[str, bytes] = {}
        step = per_call or len(hashes) or 1
        for start in range(0, len(hashes), step):
            part = hashes[start : start + step]
            texts = [texts_by_hash[h] for h in part]
            async with turn():
                EMBED_BATCH.observe(len(texts))
                with EMBED_SECONDS.time():
                    # The model releases the GIL; a thread keeps the event loop (and heartbeats) alive.
                    vectors = await asyncio.to_thread(self._embedder.embed_passages, texts)
            by_hash.update(
                (h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in zip(part, vectors, strict=True)
            )
        computed = {k: by_hash[k[1]] for k in missing}
        if self._cache and computed:
            await self._cache.put(self._model_key, computed)
        EMBEDDINGS.labels("computed").inc(len(computed))
        EMBEDDINGS.labels("cache").inc(len(keys) - len(computed))
        vectors_by_key = {**cached, **computed}
        out = []
        seen_computed: set[CacheKey] = set()
        for record in records:
            chunks = []
            fresh = 0
            for c in record["chunks"]:
                k = key_of[(id(record), c["chunk_number"])]
                if k in computed and k not in seen_computed:
                    seen_computed.add(k)
                    fresh += 1
                chunks.append(dict(c, vector=np.frombuffer(vectors_by_key[k], dtype=np.float32).tolist()))
            out.append(
                dict(
                    record,
                    chunks=chunks,
                    model=self._embedder.name,
                    model_version=self._embedder.version,
                    dimension=self._embedder.dimension,
                    embeddings_computed=fresh,
                )
            )
        return out
