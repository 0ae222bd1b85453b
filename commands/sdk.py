"""Producer SDK for upstream systems: validated, Avro-encoded, idempotent document commands.

async with CommandProducer(get_settings()) as producer:
    written = await producer.send(UpsertDocument(document_id="faq/1", content="..."))

Records are Avro in the schema registry's wire format (`codec.wire_format`), produced by
confluent-kafka or aiokafka (`kafka.producer_client`, see commands/producers.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ragstream.blobs import BlobStore, open_blob_store
from ragstream.codec import CodecError, load_codec
from ragstream.commands.exceptions import InvalidCommand
from ragstream.commands.files import binary_upsert, message_attachments
from ragstream.commands.producers import make_command_producer
from ragstream.contracts import (
    ContentType,
    DocumentCommand,
    EncodedCommand,
    UpsertDocument,
    WritePosition,
    encode_command,
)
from ragstream.observability.tracing import trace_headers
from ragstream.settings import Settings
from ragstream.topics import LANE_HEADER, Lane, catalogue


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
        self._blobs: BlobStore | None = None

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

    async def file_command(
        self, *, document_id: str, data: bytes, content_type: ContentType, tenant: str = "default",
        actor: str = "sdk", title: str = "", metadata: Mapping[str, str] | None = None,
        acl: Sequence[str] = (), source: Mapping[str, str] | None = None, document_version: int | None = None,
        reindex: bool = False,
    ) -> UpsertDocument:  # fmt: skip
        """The upsert of a binary document (PDF, Office, e-mail): its bytes inline when small, else
        stored in the blob store (which the stream workers must share) and referenced by digest."""
        if self._blobs is None:
            self._blobs = open_blob_store(self._settings.blobs)
        return await binary_upsert(
            self._blobs, self._settings.blobs.inline_max_bytes, data=data, content_type=content_type,
            tenant=tenant, document_id=document_id, actor=actor, title=title, metadata=metadata, acl=acl,
            source=source or {"via": "sdk"}, document_version=document_version, reindex=reindex,
        )  # fmt: skip

    async def file_commands(self, **fields: Any) -> list[UpsertDocument]:
        """`file_command(**fields)`, and for an e-mail one more upsert per attachment that is a document
        itself (PDF, Office, e-mail): id `<message id>/attachments/<n>-<file name>`, metadata
        `attached_to` naming the message, the message's tenant and ACL."""
        message = await self.file_command(**fields)
        if message.content_type is not ContentType.EMAIL:
            return [message]
        commands = [message]
        for number, (name, content_type, data) in enumerate(message_attachments(fields["data"]), start=1):
            attachment = dict(
                fields, document_id=f"{message.document_id}/attachments/{number}-{name}"[:512], data=data,
                content_type=content_type, title=name[:1024], document_version=None,
                metadata={**(fields.get("metadata") or {}), "attached_to": message.document_id[:1024],
                          "attachment": name[:1024]},
            )  # fmt: skip
            commands.append(await self.file_command(**attachment))
        return commands

    async def send_file(self, **fields: Any) -> list[WrittenCommand]:
        """`file_commands(**fields)`, written: `await producer.send_file(document_id="r.pdf", data=...,
        content_type=ContentType.PDF)`: the document first, then an e-mail's attachments."""
        return await self.send_many(await self.file_commands(**fields))

    async def send(self, command: DocumentCommand) -> WrittenCommand:
        return (await self.send_many([command]))[0]

    async def send_bulk(self, commands: Sequence[DocumentCommand]) -> list[WrittenCommand]:
        """`send_many` in the bulk lane: for imports, whose chunks must not hold up single edits.
        Their consistency tokens wait for the bulk lane (see ragstream.topics.Lane)."""
        return await self.send_many(commands, lane=Lane.BULK)

    async def send_many(
        self, commands: Sequence[DocumentCommand], *, lane: Lane = Lane.INTERACTIVE
    ) -> list[WrittenCommand]:
        """Encode every command first, so one invalid command means none is written."""
        payloads = [(c, self.encode(c)) for c in commands]
        # Unmarked means interactive, so only the bulk lane is written down.
        marked = [(LANE_HEADER, lane.value.encode())] if lane is Lane.BULK else []
        acks = [
            await self._producer.send(
                self._topic,
                value=encoded.value,
                key=encoded.key,
                headers=[*encoded.headers.items(), *marked, *trace_headers()],
            )
            for _, encoded in payloads
        ]
        positions = await asyncio.gather(*acks)
        return [
            WrittenCommand(c.command_id, c.tenant, c.document_id, position.model_copy(update={"lane": lane}))
            for (c, _), position in zip(payloads, positions, strict=True)
        ]
