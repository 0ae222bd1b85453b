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

from ragstream.codec import Codec
from ragstream.identifiers import DOCUMENT_ID_MAX_LENGTH, DOCUMENT_ID_PATTERN, TENANT_PATTERN
from ragstream.topics import document_key

Tenant = Annotated[str, StringConstraints(pattern=TENANT_PATTERN)]
DocumentId = Annotated[
    str, StringConstraints(min_length=1, max_length=DOCUMENT_ID_MAX_LENGTH, pattern=DOCUMENT_ID_PATTERN)
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
    command_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
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
        for name, value in self.model_dump(exclude={"content", "event_time"}).items():
            if _has_nul(value):
                raise ValueError(f"{name} must not contain NUL characters")
        return self

    def to_avro(self) -> dict[str, Any]:
        record = self.model_dump(exclude={"avro_name"})
        record["schema_version"] = 1
        return record


class UpsertDocument(_Command):
    avro_name: str = "UpsertDocument"
    title: Annotated[str, StringConstraints(max_length=1024)] = ""
    content: Annotated[str, StringConstraints(max_length=MAX_CONTENT_CHARS)]
    content_type: ContentType = ContentType.TEXT
    metadata: Metadata = Field(default_factory=dict)
    acl: Acl = Field(default_factory=list)

    @field_validator("content")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be empty")
        return value

    def to_avro(self) -> dict[str, Any]:
        record = super().to_avro()
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

    @property
    def token(self) -> str:
        return f"{self.partition}:{self.offset}"


def consistency_token(positions: Iterable[WritePosition]) -> str:
    """One token for several writes: the highest offset written per partition."""
    best: dict[int, int] = {}
    for p in positions:
        best[p.partition] = max(best.get(p.partition, -1), p.offset)
    return ",".join(f"{partition}:{offset}" for partition, offset in sorted(best.items()))


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
