"""Runs read-side projections (ragstream.projections.Projection) inside the stream workers.

The query side owns the projections; the composition root decides which ones a worker runs. Here
they get what every processor gets: records of the partitions this worker owns, in offset order
without holes, in batches that grow with load (a lone record is not held back by a window), acked
only after `apply` returned, with undecodable or unappliable records dead-lettered.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import faust

from ragstream.codec import Codec, CodecError, Decoded
from ragstream.observability.metrics import observe_processing
from ragstream.observability.tracing import bind_message
from ragstream.projections import Projection, ReadsUndecodable
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
    opaque = isinstance(projection, ReadsUndecodable) and projection.reads_undecodable

    async def project(stream: Any) -> None:
        await projection.open()
        try:
            batches = event_batches(
                stream, projection.max_batch,
                is_current=owned_by(app), sequencer=faust_sequencer(app, name, [projection.topic]),
            )  # fmt: skip
            async for events in batches:
                await _apply(events)
        finally:
            await projection.close()

    async def _apply(events: list[Any]) -> None:
        started = time.perf_counter()
        records: list[LogRecord] = []
        origin: dict[tuple[int, int], Any] = {}
        for event in events:
            msg = event.message
            bind_message(msg)
            headers = _headers(msg.headers)
            try:
                decoded = codec.decode(event.value)
            except CodecError as exc:
                if not opaque:
                    await dead_letter(event, name, exc)
                    continue
                decoded = Decoded("", {})
            records.append(
                LogRecord(
                    decoded.name, decoded.record, msg.topic, msg.partition, msg.offset, msg.key, headers
                )
            )
            origin[(msg.partition, msg.offset)] = event
        for failed in await projection.apply(records) if records else []:
            event = origin[(failed.record.partition, failed.record.offset)]
            bind_message(event.message)
            await dead_letter(event, name, failed.error)
        PROCESSED.labels(name).inc(len(events))
        observe_processing(name, started)

    app.agent(raw_topic(app, projection.topic), name=f"{__name__}.{name}")(project)


def _headers(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> dict[str, bytes]:
    # aiokafka gives a sequence of pairs, faust sometimes a mapping.
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return {key: value.encode() if isinstance(value, str) else bytes(value) for key, value in pairs}
