"""The stream workers' projection of the embeddings topic into the server read models.

Registered only when a server backend is configured (`RAGSTREAM_OPENSEARCH__URL`,
`RAGSTREAM_QDRANT__URL`). It runs in the workers' consumer group, so each partition is written by one
worker and a worker that leaves hands its partitions to the others. While a server is unreachable
the batch is retried with backoff and its offsets stay uncommitted: back-pressure, never a skip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception, wait_exponential_jitter

from ragstream.codec import AvroSingleObjectCodec, CodecError
from ragstream.settings import Settings
from ragstream.streams.batching import event_batches, owned_by
from ragstream.streams.readmodels.exceptions import DimensionMismatchError, ReadModelError
from ragstream.streams.readmodels.projection import LogRecord
from ragstream.streams.readmodels.shared import SharedIndexProjector, open_shared_indexes, shared_read_models
from ragstream.streams.registry import RegistryStore
from ragstream.streams.registry.shared_state import SharedIndexState
from ragstream.streams.sequencing import faust_sequencer

log = logging.getLogger("ragstream.streams.shared")
# Large batches: a bulk request per batch is what makes a server index fast to feed.
BATCH_RECORDS = 256
BATCH_WAIT_S = 0.2

DeadLetter = Callable[[Any, str, BaseException], Awaitable[None]]


def _transient(exc: BaseException) -> bool:
    # A wrong dimension or a read-only index will not heal by waiting; an unreachable server will.
    return isinstance(exc, ReadModelError | OSError) and not isinstance(exc, DimensionMismatchError)


def register_shared_projection(
    app: faust.App,
    settings: Settings,
    embeddings_topic: Any,
    codec: AvroSingleObjectCodec,
    *,
    dimension: int,
    store: Callable[[], Awaitable[RegistryStore]],
    dead_letter: DeadLetter,
) -> None:
    read_models = shared_read_models(settings)
    if not read_models:
        return
    opened: dict[str, SharedIndexProjector] = {}

    async def projector() -> SharedIndexProjector:
        if "projector" not in opened:
            indexes = await asyncio.to_thread(open_shared_indexes, settings, dimension)
            opened["projector"] = SharedIndexProjector(indexes, SharedIndexState.of(await store()))
        return opened["projector"]

    async def apply(records: list[LogRecord]) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential_jitter(initial=0.5, max=10.0),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                result = await (await projector()).apply(records)
        registry = await store()
        for read_model in read_models:
            await registry.record_read_model_versions(read_model, result.applied)

    @app.agent(embeddings_topic)
    async def project_shared_indexes(stream: Any) -> None:
        batches = event_batches(
            stream, BATCH_RECORDS, BATCH_WAIT_S,
            is_current=owned_by(app),
            sequencer=faust_sequencer(app, "project_shared_indexes", embeddings_topic.topics),
        )  # fmt: skip
        async for events in batches:
            records: list[LogRecord] = []
            for event in events:
                msg = event.message
                try:
                    decoded = codec.decode(event.value)
                except CodecError as exc:
                    await dead_letter(event, "project_shared_indexes", exc)
                    continue
                records.append(LogRecord(decoded.name, decoded.record, msg.topic, msg.partition, msg.offset))
            if records:
                await apply(records)
