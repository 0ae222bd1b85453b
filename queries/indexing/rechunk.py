"""Chunking and embedding inside the query node: a generation fed from the events topic.

The embeddings topic holds the chunks of the stream workers' chunker, so a generation with another
chunk size cannot be built from it. The events topic holds every document's full content, so such a
generation reads that topic instead and does the workers' chunk and embed steps itself, with the
same code and the shared embedding cache (an unchanged chunk is still never embedded twice). It
keeps doing so for live writes: the workers' embeddings do not fit its chunker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ragstream.queries.indexing.projector import LogRecord
from ragstream.streams.chunking import ChunkingConfig
from ragstream.streams.stages import EmbeddingStage, chunk_upserted

log = logging.getLogger("ragstream.queries.rechunk")


class Rechunker:
    def __init__(self, config: ChunkingConfig, stage: EmbeddingStage) -> None:
        self.config = config
        self._stage = stage

    async def __call__(self, records: list[LogRecord]) -> list[LogRecord]:
        chunked = await asyncio.to_thread(self._chunk, records)
        upserts = [record for _, record in chunked if record is not None]
        embedded = iter(await self._stage.embed(upserts))
        out = []
        for rec, record in chunked:
            if rec.name != "DocumentUpserted":
                out.append(rec)
            elif record is not None:
                out.append(
                    LogRecord("DocumentEmbedded", next(embedded), rec.topic, rec.partition, rec.offset)
                )
        return out

    def _chunk(self, records: list[LogRecord]) -> list[tuple[LogRecord, dict[str, Any] | None]]:
        out: list[tuple[LogRecord, dict[str, Any] | None]] = []
        for rec in records:
            if rec.name != "DocumentUpserted":
                out.append((rec, None))
                continue
            try:
                out.append((rec, chunk_upserted(rec.record, self.config)))
            except Exception as exc:  # the workers dead-letter such a document; it never reaches an index
                log.warning("skipping %s/%s/%s: cannot chunk: %s", rec.topic, rec.partition, rec.offset, exc)
                out.append((rec, None))
        return out
