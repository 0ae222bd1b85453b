"""The CDC processor: Debezium change events of mapped tables become Avro document commands.

It writes exactly what every other producer writes (ragstream.contracts.encode_command: key
`tenant/document_id`, Avro value, command_id/type headers), so everything downstream treats a table
row like any other document. Events it cannot convert go to the dead-letter topic; the partition
keeps flowing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
from prometheus_client import Counter

from ragstream.codec import CodecError, load_codec
from ragstream.contracts import encode_command
from ragstream.settings import Settings
from ragstream.streams.cdc.envelope import read_event
from ragstream.streams.cdc.exceptions import UnconvertibleEvent
from ragstream.streams.cdc.mapping import CdcMapping, to_commands
from ragstream.streams.delivery import owned_by, owned_events
from ragstream.streams.delivery.patches import rewind_uncommitted_partitions
from ragstream.streams.delivery.publish import publish
from ragstream.streams.dlq import send_dead_letter
from ragstream.streams.worker import raw_topic, worker_app
from ragstream.topics import catalogue

log = logging.getLogger("ragstream.streams.cdc")

CDC_EVENTS = Counter(
    "ragstream_cdc_events_total", "Debezium change events by table and outcome", ["table", "outcome"]
)
PROCESSOR = "cdc_changes"


def cdc_topics(settings: Settings, mappings: Sequence[CdcMapping]) -> list[str]:
    prefix = catalogue(settings.kafka.topic_prefix).cdc_prefix
    return [m.topic(prefix) for m in mappings]


def register_cdc(
    app: faust.App, settings: Settings, mappings: Sequence[CdcMapping], *, dead_letter_topic: Any
) -> None:
    """Adds the agent that turns the mapped tables' change events into commands; no-op without mappings."""
    if not mappings:
        return
    topics = catalogue(settings.kafka.topic_prefix)
    codec = load_codec(settings.codec)
    by_topic = {m.topic(topics.cdc_prefix): m for m in mappings}
    rewind_uncommitted_partitions(by_topic)
    # internal=True makes faust create a missing topic at startup (compacted, as the connector would),
    # so a worker may start before its connector is applied and still sees the first snapshot.
    source = raw_topic(app, *by_topic, internal=True, compacting=True, partitions=settings.kafka.partitions)
    commands_topic = raw_topic(app, topics.commands.name)

    async def cdc_changes(stream: Any) -> None:
        # Compacted topics have holes of their own, so the CDC processor is not sequenced.
        owned = owned_events(stream, owns=owned_by(app), sequencer=None)
        async for event in owned:
            msg = event.message
            mapping = by_topic.get(msg.topic)
            table = mapping.table if mapping else msg.topic
            try:
                if mapping is None:
                    raise UnconvertibleEvent(f"no mapping for topic {msg.topic}")
                change = read_event(event.value, codec.decode_any)  # Avro or JSON, by the first byte
                commands = to_commands(change, mapping, position=f"{msg.topic}/{msg.partition}/{msg.offset}")
                encoded = [encode_command(codec, c) for c in commands]  # all or nothing
                pending = [
                    await publish(commands_topic, key=e.key, value=e.value, headers=e.headers)
                    for e in encoded
                ]
                # Acked (committable) only once its commands are durable on the broker.
                await asyncio.gather(*pending)
                CDC_EVENTS.labels(table, "converted" if commands else "tombstone").inc()
            except (UnconvertibleEvent, CodecError, ValueError, TypeError, KeyError) as exc:
                # One bad row must not stall its partition; Kafka errors are not caught and stop the worker.
                CDC_EVENTS.labels(table, "dead-lettered").inc()
                log.warning("dead-lettering %s/%s/%s: %s", msg.topic, msg.partition, msg.offset, exc)
                await send_dead_letter(
                    dead_letter_topic, key=msg.key, value=msg.value, processor=PROCESSOR, error=exc,
                    topic=msg.topic, partition=msg.partition, offset=msg.offset,
                )  # fmt: skip

    app.agent(source, name=f"{__name__}.{PROCESSOR}")(cdc_changes)


def create_cdc_app(settings: Settings, mappings: Sequence[CdcMapping]) -> faust.App:
    """A worker that runs only the CDC processor (its own consumer group), next to the stream workers."""
    app = worker_app(
        settings, f"{settings.streams.app_id}-cdc",
        sequenced_topics=[], lag_topics=cdc_topics(settings, mappings),
    )  # fmt: skip
    dlq = raw_topic(app, catalogue(settings.kafka.topic_prefix).dlq.name)
    register_cdc(app, settings, mappings, dead_letter_topic=dlq)
    return app
