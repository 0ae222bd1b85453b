"""Producer SDK for upstream systems: validated, Avro-encoded, idempotent document commands.

async with CommandProducer(get_settings()) as producer:
    written = await producer.send(UpsertDocument(document_id="faq/1", content="..."))
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from aiokafka.errors import KafkaError

from ragstream.codec import CodecError, load_codec
from ragstream.commands.exceptions import CommandNotWritten, InvalidCommand
from ragstream.contracts import DocumentCommand, EncodedCommand, WritePosition, encode_command
from ragstream.kafka import make_producer
from ragstream.observability.tracing import trace_headers
from ragstream.settings import Settings
from ragstream.topics import catalogue


@dataclass(frozen=True)
class WrittenCommand:
    command_id: str
    tenant: str
    document_id: str
    position: WritePosition


class CommandProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._codec = load_codec(settings.codec)
        self._topic = catalogue(settings.kafka.topic_prefix).commands.name
        self._producer = make_producer(settings.kafka, client_suffix="commands")
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self._producer.start()
            self._started = True

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()
            self._started = False

    async def __aenter__(self) -> CommandProducer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def ping(self) -> bool:
        """True when the broker answers a metadata request."""
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=5)
        except (KafkaError, TimeoutError, OSError):
            return False
        return True

    def encode(self, command: DocumentCommand) -> EncodedCommand:
        try:
            return encode_command(self._codec, command)
        except CodecError as exc:
            raise InvalidCommand(str(exc)) from exc

    async def send(self, command: DocumentCommand) -> WrittenCommand:
        return (await self.send_many([command]))[0]

    async def send_many(self, commands: Sequence[DocumentCommand]) -> list[WrittenCommand]:
        """Encode every command first, so one invalid command means none is written."""
        payloads = [(c, self.encode(c)) for c in commands]
        try:
            futures = [
                await self._producer.send(
                    self._topic,
                    value=encoded.value,
                    key=encoded.key,
                    headers=[*encoded.headers.items(), *trace_headers()],
                )
                for _, encoded in payloads
            ]
            metadata = await asyncio.gather(*futures)
        except KafkaError as exc:
            raise CommandNotWritten(f"Kafka did not accept the commands: {exc}") from exc
        return [
            WrittenCommand(
                c.command_id,
                c.tenant,
                c.document_id,
                WritePosition(topic=m.topic, partition=m.partition, offset=m.offset),
            )
            for (c, _), m in zip(payloads, metadata, strict=True)
        ]
