"""The document commands every entrance writes: the REST API, the SDK, the ingest CLI and CDC.

They mirror the Avro contracts in schemas/avro/ and validate what those cannot express (patterns,
sizes, NUL). Nothing that fails these models reaches Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from ragstream.blobs.base import BlobReference
from ragstream.codec import Codec
from ragstream.identifiers import (
    COMMAND_ID_MAX_LENGTH,
    DOCUMENT_ID_MAX_LENGTH,
    DOCUMENT_ID_PATTERN,
    TENANT_PATTERN,
)
from ragstream.topics import Lane, document_key, key_lane, position_key

Tenant = Annotated[str, StringConstraints(pattern=TENANT_PATTERN)]
DocumentId = Annotated[
    str, StringConstraints(min_length=1, max_length=DOCUMENT_ID_MAX_LENGTH, pattern=DOCUMENT_ID_PATTERN)
]
# Bounded like the ids it travels with: a direct producer could otherwise make it near a record's size.
CommandId = Annotated[
    str, StringConstraints(min_length=1, max_length=COMMAND_ID_MAX_LENGTH, pattern=DOCUMENT_ID_PATTERN)
]
AclEntry = Annotated[str, StringConstraints(pattern=r"^(user|group):[^\s]{1,256}$")]
MetadataKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
MetadataValue = Annotated[str, StringConstraints(max_length=1024)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=64)]
Acl = Annotated[list[AclEntry], Field(max_length=256)]

MAX_CONTENT_CHARS = 2 * 1024 * 1024


class ContentType(StrEnum):
    TEXT = "text/plain"
    MARKDOWN = "text/markdown"
    HTML = "text/html"
    # Binary documents: their bytes travel inline (content_bytes) or by reference (blob), and the
    # extraction stage turns them into Markdown text with page/slide/sheet locations.
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    EMAIL = "message/rfc822"

    @property
    def is_binary(self) -> bool:
        return self not in TEXT_TYPES


TEXT_TYPES = frozenset({ContentType.TEXT, ContentType.MARKDOWN, ContentType.HTML})
BINARY_TYPES = frozenset(ContentType) - TEXT_TYPES


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: Tenant = "default"
    document_id: DocumentId
    actor: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "anonymous"
    document_version: Annotated[int, Field(ge=1)] | None = None
    source: dict[
        Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=1024)]
    ] = Field(default_factory=dict, max_length=32)
    command_id: CommandId = Field(default_factory=lambda: str(uuid.uuid4()))
    event_time: datetime = Field(default_factory=lambda: datetime.now(UTC), validate_default=True)

    # Avro record name of the command; subclasses set it.
    avro_name: str = ""

    @field_validator("event_time")
    @classmethod
    def _millis(cls, value: datetime) -> datetime:
        # The contract stores milliseconds; truncating here makes a round trip exact.
        if value.tzinfo is None:
            raise ValueError("event_time needs a timezone")
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    @model_validator(mode="after")
    def _no_nul(self) -> _Command:
        # NUL can never be stored in PostgreSQL text: refuse it here rather than stall a projection later.
        for name, value in self.model_dump(exclude={"content", "content_bytes", "event_time"}).items():
            if _has_nul(value):
                raise ValueError(f"{name} must not contain NUL characters")
        return self

    def to_avro(self) -> dict[str, Any]:
        record = self.model_dump(exclude={"avro_name"})
        record["schema_version"] = 1
        return record


# An inline file larger than this belongs in the blob store (Kafka's records stay well under their limit).
MAX_INLINE_BYTES = 4 * 1024 * 1024


class UpsertDocument(_Command):
    avro_name: str = "UpsertDocument"
    title: Annotated[str, StringConstraints(max_length=1024)] = ""
    content: Annotated[str, StringConstraints(max_length=MAX_CONTENT_CHARS)] = ""
    content_type: ContentType = ContentType.TEXT
    metadata: Metadata = Field(default_factory=dict)
    acl: Acl = Field(default_factory=list)
    # A binary document: its bytes (small) or a reference into the blob store (large), never both.
    content_bytes: Annotated[bytes, Field(max_length=MAX_INLINE_BYTES)] | None = None
    blob: BlobReference | None = None
    # Apply it even if nothing changed: how a writer has a version that failed downstream (a
    # dead-lettered embedding, say) processed again once the cause is fixed.
    reindex: bool = False

    @model_validator(mode="after")
    def _one_body(self) -> UpsertDocument:
        if not self.content_type.is_binary:
            if self.content_bytes is not None or self.blob is not None:
                raise ValueError(f"{self.content_type.value} is text: send it as content, not bytes")
            if not self.content.strip():
                raise ValueError("content must not be empty")
            return self
        if self.content:
            raise ValueError(f"{self.content_type.value} is binary: send bytes, not content")
        if (self.content_bytes is None) == (self.blob is None):
            raise ValueError(f"{self.content_type.value} needs exactly one of content_bytes and blob")
        if self.content_bytes is not None and not self.content_bytes:
            raise ValueError("the file is empty (0 bytes)")
        if self.blob is not None:
            if self.blob.size == 0:
                raise ValueError("the file is empty (0 bytes)")
            if self.blob.media_type != self.content_type.value:
                raise ValueError("blob.media_type must equal content_type")
        return self

    def to_avro(self) -> dict[str, Any]:
        record = super().to_avro()
        record["schema_version"] = 3
        record["content_type"] = self.content_type.value
        return record


class DeleteDocument(_Command):
    avro_name: str = "DeleteDocument"


class UpdateDocumentAccess(_Command):
    avro_name: str = "UpdateDocumentAccess"
    metadata: Metadata | None = None
    acl: Acl | None = None


DocumentCommand = UpsertDocument | DeleteDocument | UpdateDocumentAccess


class WritePosition(BaseModel):
    """Where Kafka stored a command: the consistency token for read-your-writes."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    # The lane the command was written for: a bulk write's token waits for the bulk lane.
    lane: Lane = Lane.INTERACTIVE

    @property
    def token(self) -> str:
        return token_part(position_key(self.partition, self.lane), self.offset)


def token_part(key: int, offset: int) -> str:
    """`partition:offset` (interactive lane) or `partition:offset:bulk` (see topics.position_key)."""
    partition, lane = key_lane(key)
    return f"{partition}:{offset}" + (f":{lane.value}" if lane is Lane.BULK else "")


def consistency_token(positions: Iterable[WritePosition]) -> str:
    """One token for several writes: the highest offset written per partition and lane."""
    best: dict[int, int] = {}
    for p in positions:
        key = position_key(p.partition, p.lane)
        best[key] = max(best.get(key, -1), p.offset)
    return ",".join(token_part(key, offset) for key, offset in sorted(best.items(), key=_by_partition))


def _by_partition(item: tuple[int, int]) -> tuple[int, bool]:
    partition, lane = key_lane(item[0])
    return partition, lane is Lane.BULK


@dataclass(frozen=True)
class EncodedCommand:
    """A command as every producer writes it to the commands topic."""

    key: bytes
    value: bytes
    headers: dict[str, bytes]


def encode_command(codec: Codec, command: DocumentCommand) -> EncodedCommand:
    """Key `tenant/document_id` (one document's commands stay in one partition, in order), the Avro
    record, and the command id and type as headers; raises CodecError when the record does not fit."""
    return EncodedCommand(
        key=document_key(command.tenant, command.document_id),
        value=codec.encode(command.avro_name, command.to_avro()),
        headers={"command_id": command.command_id.encode(), "type": command.avro_name.encode()},
    )
