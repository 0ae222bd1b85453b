"""Producer SDK for upstream systems: validated, Avro-encoded, idempotent document commands.

async with CommandProducer(get_settings()) as producer:
    written = await producer.send(UpsertDocument(document_id="faq/1", content="..."))

Records are Avro in the schema registry's wire format (`codec.wire_format`), produced by
confluent-kafka or aiokafka (`kafka.producer_client`, see commands/producers.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from ragstream.codec import CodecError, load_codec
from ragstream.commands.exceptions import InvalidCommand
from ragstream.commands.producers import make_command_producer
from ragstream.contracts import DocumentCommand, EncodedCommand, WritePosition, encode_command
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
        self._producer = make_command_producer(settings.kafka)
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
        return await self._producer.ping()

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
        acks = [
            await self._producer.send(
                self._topic,
                value=encoded.value,
                key=encoded.key,
                headers=[*encoded.headers.items(), *trace_headers()],
            )
            for _, encoded in payloads
        ]
        positions = await asyncio.gather(*acks)
        return [
            WrittenCommand(c.command_id, c.tenant, c.document_id, position)
            for (c, _), position in zip(payloads, positions, strict=True)
        ]
