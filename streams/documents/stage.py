"""The extraction stage: a binary upsert command becomes a text one (Markdown plus locations).

It runs in the `validate_commands` processor between decoding and the versioning decision, so a file
that cannot be read is a rejected command (CommandRejected with the reason, shown by the API and
`ragstream audit`), the document's current version stays as it was, and the partition moves on.
The bytes come inline or from the blob store; blobs are immutable, so a replay extracts the same text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram

from ragstream.blobs import BlobError, BlobStore
from ragstream.settings import BlobSettings
from ragstream.streams.documents.formats import EXTRACTORS, ExtractionFailed, Limits
from ragstream.streams.documents.sandbox import extract_bounded

EXTRACTIONS = Counter("ragstream_extractions_total", "Binary documents extracted, by outcome", ["outcome"])
EXTRACT_SECONDS = Histogram("ragstream_extraction_seconds", "Time to extract one binary document")
EXTRACTED_TYPE = "text/markdown"


def is_binary(cmd: Mapping[str, Any]) -> bool:
    return cmd.get("content_type") in EXTRACTORS


class ExtractionStage:
    def __init__(self, settings: BlobSettings, store: BlobStore) -> None:
        self._settings = settings
        self._store = store
        self._limits = Limits(
            max_pages=settings.max_pages,
            max_chars=settings.max_extracted_chars,
            max_unzipped_bytes=settings.max_unzipped_bytes,
        )

    async def _bytes(self, cmd: Mapping[str, Any]) -> bytes:
        if cmd.get("content_bytes") is not None:
            return bytes(cmd["content_bytes"])
        blob = cmd.get("blob")
        if not blob:
            raise ExtractionFailed("a binary document needs content_bytes or a blob reference")
        try:
            data: bytes = await asyncio.to_thread(self._store.get, blob["sha256"])
        except BlobError as exc:
            raise ExtractionFailed(
                f"the document's bytes are not readable from the blob store: {exc}"
            ) from None
        return data

    async def extract(self, cmd: Mapping[str, Any]) -> dict[str, Any]:
        """The command with its text in `content`; raises ExtractionFailed with the reason."""
        media_type = cmd["content_type"]
        with EXTRACT_SECONDS.time():
            try:
                extracted = await extract_bounded(
                    await self._bytes(cmd), media_type, self._limits,
                    timeout_s=self._settings.extract_timeout_s, memory_mb=self._settings.extract_memory_mb,
                )  # fmt: skip
            except ExtractionFailed:
                EXTRACTIONS.labels("rejected").inc()
                raise
        EXTRACTIONS.labels("extracted").inc()
        return dict(
            cmd,
            content=extracted.text,
            content_type=EXTRACTED_TYPE,
            content_bytes=None,
            original_media_type=media_type,
            locations=[{"start": s, "end": e, "label": label} for s, e, label in extracted.locations],
        )
