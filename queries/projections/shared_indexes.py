"""The server read models (OpenSearch, Qdrant server) projected from the embeddings topic.

Configured only when a server backend is (`RAGSTREAM_OPENSEARCH__URL`, `RAGSTREAM_QDRANT__URL`).
The stream workers run it in their consumer group, so each partition is written by one worker and
a worker that leaves hands its partitions to the others. The state the workers share (the version
each document has there, the command positions applied) lives in PostgreSQL and is written after
the indexes were flushed: a crash in between re-applies the batch, which leaves the same index.
While a server is unreachable the batch is retried with backoff and its offsets stay uncommitted:
back-pressure, never a skip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter
from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception, wait_exponential_jitter

from ragstream.projections import Unappliable
from ragstream.queries.readmodels.exceptions import DimensionMismatchError, ReadModelError
from ragstream.queries.readmodels.projection import apply_records, document_keys, plan_batch
from ragstream.queries.readmodels.shared import SharedIndexes, open_shared_indexes, shared_read_models
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.records import LogRecord
from ragstream.settings import Settings
from ragstream.topics import catalogue

log = logging.getLogger("ragstream.queries.shared")
SHARED_APPLIED = Counter(
    "ragstream_shared_index_events_total",
    "Embeddings-topic events applied to server read models",
    ["outcome"],
)
EMBEDDINGS = frozenset({"DocumentEmbedded", "DocumentDeleted", "DocumentAccessUpdated", "CommandRejected"})


@dataclass
class SharedBatchResult:
    applied: list[tuple[str, str, int, bool]] = field(default_factory=list)
    skipped: int = 0
    flushed_at: float = 0.0


class SharedIndexProjector:
    """Applies batches of one worker's partitions to the server read models, idempotently."""

    def __init__(self, indexes: SharedIndexes, state: SharedIndexState) -> None:
        self.indexes = indexes
        self.state = state

    async def apply(self, records: Sequence[LogRecord]) -> SharedBatchResult:
        held = await self.state.versions(document_keys(records))
        plan = plan_batch(records, lambda tenant, document_id: held.get((tenant, document_id), 0))
        targets = self.indexes.all()

        def write() -> None:
            apply_records(plan.to_apply, targets, plan.new_documents)
            for index in targets:
                index.flush()

        # The clients block; a thread keeps the worker's event loop (and its heartbeats) running.
        await asyncio.to_thread(write)
        flushed_at = time.time()
        await self.state.commit(plan.applied, plan.next_offsets, plan.command_positions)
        SHARED_APPLIED.labels("applied").inc(len(plan.applied))
        SHARED_APPLIED.labels("stale").inc(plan.skipped)
        return SharedBatchResult(plan.applied, plan.skipped, flushed_at)


def _transient(exc: BaseException) -> bool:
    # A wrong dimension or a read-only index will not heal by waiting; an unreachable server will.
    return isinstance(exc, ReadModelError | OSError) and not isinstance(exc, DimensionMismatchError)


class SharedIndexProjection:
    name = "project_shared_indexes"
    # Large batches: a bulk request per batch is what makes a server index fast to feed.
    max_batch = 256

    def __init__(self, settings: Settings, dimension: int) -> None:
        self._settings = settings
        self._dimension = dimension
        self.topic = catalogue(settings.kafka.topic_prefix).embeddings.name
        self.read_models = shared_read_models(settings)
        self._registry: RegistryStore | None = None
        self._projector: SharedIndexProjector | None = None

    async def open(self) -> None:
        if self._projector is not None:
            return
        self._registry = await RegistryStore.connect(self._settings.postgres)
        indexes = await asyncio.to_thread(open_shared_indexes, self._settings, self._dimension)
        self._projector = SharedIndexProjector(indexes, SharedIndexState.of(self._registry))

    async def apply(self, records: Sequence[LogRecord]) -> list[Unappliable]:
        assert self._projector is not None and self._registry is not None, "open() the projection first"
        projector = self._projector
        failed = [
            Unappliable(rec, ValueError(f"{rec.name} does not belong on {rec.topic}"))
            for rec in records
            if rec.name not in EMBEDDINGS
        ]
        wanted = [rec for rec in records if rec.name in EMBEDDINGS]
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential_jitter(initial=0.5, max=10.0),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                result = await projector.apply(wanted)
        for read_model in self.read_models:
            await self._registry.record_read_model_versions(read_model, result.applied)
        return failed

    async def ready(self) -> bool:
        return self._registry is not None and await self._registry.ping()

    async def close(self) -> None:
        if self._projector is not None:
            await asyncio.to_thread(self._projector.indexes.close)
            self._projector = None
        if self._registry is not None:
            await self._registry.close()
            self._registry = None


def shared_index_projections(settings: Settings, dimension: int) -> list[SharedIndexProjection]:
    """The projection into the configured server read models; none when every read model is embedded."""
    return [SharedIndexProjection(settings, dimension)] if shared_read_models(settings) else []
