"""Runs read-side projections (ragstream.projections.Projection) inside the stream workers.

The query side owns the projections; the composition root decides which ones a worker runs. Here
they get what every processor gets: records of the partitions this worker owns, in offset order
without holes, in batches that grow with load (a lone record is not held back by a window), acked
only after `apply` returned, with undecodable or unappliable records dead-lettered.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from ragstream.codec import Codec, CodecError
from ragstream.observability.metrics import observe_processing
from ragstream.observability.tracing import bind_message
from ragstream.projections import Projection
from ragstream.records import LogRecord
from ragstream.streams.delivery import event_batches, faust_sequencer, owned_by
from ragstream.streams.metrics import PROCESSED
from ragstream.streams.worker import raw_topic

DeadLetter = Callable[[Any, str, BaseException], Awaitable[None]]


def register_projections(
    app: faust.App, projections: Sequence[Projection], *, codec: Codec, dead_letter: DeadLetter
) -> None:
    for projection in projections:
        _register(app, projection, codec=codec, dead_letter=dead_letter)


def _register(app: faust.App, projection: Projection, *, codec: Codec, dead_letter: DeadLetter) -> None:
    name = projection.name

    async def project(stream: Any) -> None:
        await projection.open()
        batches = event_batches(
            stream, projection.max_batch,
            is_current=owned_by(app), sequencer=faust_sequencer(app, name, [projection.topic]),
        )  # fmt: skip
        async for events in batches:
            started = time.perf_counter()
            records: list[LogRecord] = []
            origin: dict[tuple[int, int], Any] = {}
            for event in events:
                msg = event.message
                bind_message(msg)
                try:
                    decoded = codec.decode(event.value)
                except CodecError as exc:
                    await dead_letter(event, name, exc)
                    continue
                records.append(LogRecord(decoded.name, decoded.record, msg.topic, msg.partition, msg.offset))
                origin[(msg.partition, msg.offset)] = event
            for failed in await projection.apply(records) if records else []:
                event = origin[(failed.record.partition, failed.record.offset)]
                bind_message(event.message)
                await dead_letter(event, name, failed.error)
            PROCESSED.labels(name).inc(len(events))
            observe_processing(name, started)

    app.agent(raw_topic(app, projection.topic), name=f"{__name__}.{name}")(project)
