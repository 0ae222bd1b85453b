"""The CDC processor: Debezium change events of mapped tables become Avro document commands.

It writes exactly what `commands.sdk.CommandProducer` writes (key `tenant/document_id`, single-object
Avro value, command_id/type headers), so everything downstream treats a table row like any other
document. Events it cannot convert go to the dead-letter topic; the partition keeps flowing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
from prometheus_client import Counter

from ragstream.codec import Codec, CodecError, load_codec
from ragstream.commands.models import DocumentCommand
from ragstream.kafka import faust_credentials
from ragstream.settings import Settings
from ragstream.streams.batching import owned_by, owned_events
from ragstream.streams.cdc.exceptions import UnconvertibleEvent
from ragstream.streams.cdc.mapping import CdcMapping, to_commands
from ragstream.streams.dlq import send_dead_letter
from ragstream.streams.faust_fixes import rewind_uncommitted_partitions
from ragstream.topics import catalogue, document_key

log = logging.getLogger("ragstream.streams.cdc")

CDC_EVENTS = Counter(
    "ragstream_cdc_events_total", "Debezium change events by table and outcome", ["table", "outcome"]
)
PROCESSOR = "cdc_changes"


def _raw(app: faust.App, *names: str, **options: Any) -> Any:
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", **options
    )


def encode_commands(
    codec: Codec, commands: Sequence[DocumentCommand]
) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    """(key, value, headers) per command, encoded like commands.sdk; all or nothing."""
    return [
        (
            document_key(c.tenant, c.document_id),
            codec.encode(c.avro_name, c.to_avro()),
            {"command_id": c.command_id.encode(), "type": c.avro_name.encode()},
        )
        for c in commands
    ]


def register_cdc(app: faust.App, settings: Settings, mappings: Sequence[CdcMapping]) -> None:
    """Adds the agent that turns the mapped tables' change events into commands; no-op without mappings."""
    if not mappings:
        return
    topics = catalogue(settings.kafka.topic_prefix)
    codec = load_codec(settings.codec.schemas_dir)
    by_topic = {m.topic(topics.cdc_prefix): m for m in mappings}
    rewind_uncommitted_partitions(by_topic)
    # internal=True makes faust create a missing topic at startup (compacted, as the connector would),
    # so a worker may start before its connector is applied and still sees the first snapshot.
    source = _raw(app, *by_topic, internal=True, compacting=True, partitions=settings.kafka.partitions)
    commands_topic = _raw(app, topics.commands.name)
    dlq_topic = _raw(app, topics.dlq.name)

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
                commands = to_commands(
                    event.value, mapping, position=f"{msg.topic}/{msg.partition}/{msg.offset}"
                )
                pending = [
                    await commands_topic.send(key=key, value=value, headers=headers)
                    for key, value, headers in encode_commands(codec, commands)
                ]
                # Acked (committable) only once its commands are durable on the broker.
                await asyncio.gather(*pending)
                CDC_EVENTS.labels(table, "converted" if commands else "tombstone").inc()
            except (UnconvertibleEvent, CodecError, ValueError, TypeError, KeyError) as exc:
                # One bad row must not stall its partition; Kafka errors are not caught and stop the worker.
                CDC_EVENTS.labels(table, "dead-lettered").inc()
                log.warning("dead-lettering %s/%s/%s: %s", msg.topic, msg.partition, msg.offset, exc)
                await send_dead_letter(
                    dlq_topic, key=msg.key, value=msg.value, processor=PROCESSOR, error=exc,
                    topic=msg.topic, partition=msg.partition, offset=msg.offset,
                )  # fmt: skip

    app.agent(source, name=f"{__name__}.{PROCESSOR}")(cdc_changes)


def create_cdc_app(
    settings: Settings, mappings: Sequence[CdcMapping], *, web_port: int | None = None
) -> faust.App:
    """A worker that runs only the CDC processor (its own consumer group), next to the stream workers."""
    app_id = f"{settings.streams.app_id}-cdc"
    settings.streams.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings.kafka),
        store="memory://",
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        processing_guarantee=settings.streams.processing_guarantee,
        datadir=str(settings.streams.data_dir / app_id),
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=web_port or settings.streams.web_port,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=settings.kafka.max_message_bytes,
        consumer_max_fetch_size=settings.kafka.max_message_bytes,
        stream_wait_empty=False,
    )
    register_cdc(app, settings, mappings)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "tables": [m.table for m in mappings]})

    return app
