"""Applies the embeddings topic to the query node's embedded read models, idempotently.

The decisions (stale versions skipped, offsets and positions advanced) are the shared ones of
`ragstream.queries.readmodels.projection`; this projector keeps their state in SQLite beside the indexes. A
read model served by a server backend (OpenSearch, Qdrant server) is projected by the stream
workers instead, so it is None here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence, Set
from dataclasses import dataclass, field

from prometheus_client import Counter

from ragstream.queries.indexing.state import ProjectionState
from ragstream.queries.readmodels.base import KeywordIndex, SearchIndex, VectorIndex
from ragstream.queries.readmodels.projection import READ_MODELS, apply_records, plan_batch
from ragstream.records import LogRecord

__all__ = ["APPLIED", "READ_MODELS", "BatchResult", "IndexProjector"]

APPLIED = Counter("ragstream_index_events_total", "Embeddings-topic events by outcome", ["outcome"])


@dataclass
class BatchResult:
    applied: list[tuple[str, str, int, bool]] = field(default_factory=list)
    skipped: int = 0
    # Wall-clock time each read model made the batch visible, for per-read-model freshness.
    flushed_at: dict[str, float] = field(default_factory=dict)


class IndexProjector:
    def __init__(
        self, keyword: KeywordIndex | None, vector: VectorIndex | None, state: ProjectionState
    ) -> None:
        self.keyword = keyword
        self.vector = vector
        self.state = state
        # Searches run in threads; index writers must not interleave with each other.
        self.write_lock = threading.Lock()
        # While a copy of the vector index is built (IndexFeed.optimize): the vector writes made
        # since the copy, in order, to be made to the copy too before it takes the index's place.
        self.vector_writes_since_copy: list[tuple[list[LogRecord], frozenset[tuple[str, str]]]] | None = None

    @property
    def read_models(self) -> tuple[str, ...]:
        """The read models this node holds itself."""
        held = {"lexical": self.keyword, "vector": self.vector}
        return tuple(name for name in READ_MODELS if held[name] is not None)

    def apply_batch(self, records: Sequence[LogRecord]) -> BatchResult:
        with self.write_lock:
            plan = plan_batch(records, self.state.version)
            indexes = self.indexes(self.read_models)
            apply_records(plan.to_apply, indexes, plan.new_documents)
            self._record_vector_writes(self.read_models, plan.to_apply, plan.new_documents)
            result = BatchResult(applied=plan.applied, skipped=plan.skipped)
            APPLIED.labels("applied").inc(len(plan.applied))
            APPLIED.labels("stale").inc(plan.skipped)
            self._flush(self.read_models, result)
            self.state.commit(plan.applied, plan.next_offsets, plan.command_positions)
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
            current = []
            for rec in records:
                if rec.name == "CommandRejected":
                    continue
                key = (rec.record["tenant"], rec.record["document_id"])
                version = int(rec.record["version"])
                if version != self.state.version(*key):
                    result.skipped += 1
                    continue
                current.append(rec)
                result.applied.append((*key, version, rec.name == "DocumentDeleted"))
            apply_records(current, self.indexes(read_models))
            self._record_vector_writes(read_models, current, frozenset())
            self._flush(read_models, result)
        return result

    def _record_vector_writes(
        self, read_models: Sequence[str], records: Sequence[LogRecord], new: Set[tuple[str, str]]
    ) -> None:
        if self.vector_writes_since_copy is not None and "vector" in read_models and records:
            self.vector_writes_since_copy.append((list(records), frozenset(new)))

    def indexes(self, read_models: Sequence[str]) -> list[SearchIndex]:
        chosen: list[SearchIndex] = []
        if "lexical" in read_models and self.keyword is not None:
            chosen.append(self.keyword)
        if "vector" in read_models and self.vector is not None:
            chosen.append(self.vector)
        return chosen

    def _flush(self, read_models: Sequence[str], result: BatchResult) -> None:
        for name, index in (("lexical", self.keyword), ("vector", self.vector)):
            if name in read_models and index is not None:
                index.flush()
                result.flushed_at[name] = time.time()

    def close(self) -> None:
        for index in (self.keyword, self.vector):
            if index is not None:
                index.close()
        self.state.close()
