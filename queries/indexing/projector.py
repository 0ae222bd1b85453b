"""Applies the embeddings topic to the keyword and vector read models, idempotently.

A stale event (version at or below what the indexes hold) is skipped, so redelivery and replay never
resurrect or duplicate anything; deletes are remembered as versions too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter

from queries.indexing.state import ProjectionState
from streams.readmodels.base import IndexedChunk, KeywordIndex, SearchIndex, VectorIndex

APPLIED = Counter("ragstream_index_events_total", "Embeddings-topic events by outcome", ["outcome"])
READ_MODELS = ("lexical", "vector")


@dataclass
class LogRecord:
    name: str
    record: Mapping[str, Any]
    topic: str
    partition: int
    offset: int


@dataclass
class BatchResult:
    applied: list[tuple[str, str, int, bool]] = field(default_factory=list)
    skipped: int = 0
    # Wall-clock time each read model made the batch visible, for per-read-model freshness.
    flushed_at: dict[str, float] = field(default_factory=dict)


def parse_position(position: str) -> tuple[int, int] | None:
    """'topic/partition/offset' -> (partition, offset)."""
    parts = position.rsplit("/", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])


def to_chunks(record: Mapping[str, Any]) -> list[IndexedChunk]:
    return [
        IndexedChunk(
            tenant=record["tenant"],
            document_id=record["document_id"],
            version=int(record["content_version"]),
            chunk_number=int(c["chunk_number"]),
            text=c["text"],
            title=record["title"],
            start=int(c["start"]),
            end=int(c["end"]),
            metadata=dict(record["metadata"]),
            acl=list(record["acl"]),
            vector=c["vector"],
        )
        for c in record["chunks"]
    ]


class IndexProjector:
    def __init__(self, keyword: KeywordIndex, vector: VectorIndex, state: ProjectionState) -> None:
        self.keyword = keyword
        self.vector = vector
        self.state = state
        # Searches run in threads; index writers must not interleave with each other.
        self.write_lock = threading.Lock()

    def apply_batch(self, records: Sequence[LogRecord]) -> BatchResult:
        result = BatchResult()
        offsets: dict[tuple[str, int], int] = {}
        positions: dict[int, int] = {}
        pending: dict[tuple[str, str], int] = {}
        with self.write_lock:
            for rec in records:
                offsets[(rec.topic, rec.partition)] = rec.offset + 1
                position = parse_position(str(rec.record.get("command_position", "")))
                if position is not None:
                    positions[position[0]] = max(positions.get(position[0], -1), position[1])
                if rec.name == "CommandRejected":
                    continue
                key = (rec.record["tenant"], rec.record["document_id"])
                version = int(rec.record["version"])
                current = pending.get(key) or self.state.version(*key)
                if version <= current:
                    result.skipped += 1
                    APPLIED.labels("stale").inc()
                    continue
                self._apply(rec, self.indexes(READ_MODELS))
                pending[key] = version
                result.applied.append((*key, version, rec.name == "DocumentDeleted"))
                APPLIED.labels("applied").inc()
            self._flush(READ_MODELS, result)
            self.state.commit(result.applied, offsets, positions)
        return result

    def reapply_batch(self, records: Sequence[LogRecord], read_models: Sequence[str]) -> BatchResult:
        """Replay: re-apply each event whose version is exactly the one the generation holds, to the
        chosen read models only; replacing a document with the same chunks changes nothing.

        Older events are skipped, so a replay never resurrects a deleted or superseded version;
        newer ones are left to the live feed, which owns the offsets and the version table (a
        one-read-model replay must not advance a version the other read model has not seen).
        """
        result = BatchResult()
        with self.write_lock:
            for rec in records:
                if rec.name == "CommandRejected":
                    continue
                key = (rec.record["tenant"], rec.record["document_id"])
                version = int(rec.record["version"])
                if version != self.state.version(*key):
                    result.skipped += 1
                    continue
                self._apply(rec, self.indexes(read_models))
                result.applied.append((*key, version, rec.name == "DocumentDeleted"))
            self._flush(read_models, result)
        return result

    def indexes(self, read_models: Sequence[str]) -> list[SearchIndex]:
        chosen: list[SearchIndex] = []
        if "lexical" in read_models:
            chosen.append(self.keyword)
        if "vector" in read_models:
            chosen.append(self.vector)
        return chosen

    def _flush(self, read_models: Sequence[str], result: BatchResult) -> None:
        for name, index in zip(("lexical", "vector"), (self.keyword, self.vector), strict=True):
            if name in read_models:
                index.flush()
                result.flushed_at[name] = time.time()

    @staticmethod
    def _apply(rec: LogRecord, indexes: Sequence[SearchIndex]) -> None:
        r = rec.record
        tenant, document_id = r["tenant"], r["document_id"]
        for index in indexes:
            if rec.name == "DocumentEmbedded":
                index.replace_document(tenant, document_id, to_chunks(r))
            elif rec.name == "DocumentDeleted":
                index.delete_document(tenant, document_id)
            elif rec.name == "DocumentAccessUpdated":
                index.update_access(tenant, document_id, dict(r["metadata"]), list(r["acl"]))
