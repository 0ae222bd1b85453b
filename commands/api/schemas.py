"""Request and response bodies of the command API, split by role."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ragstream.contracts import Acl, ContentType, DocumentId, Metadata, WritePosition


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


REINDEX = (
    "Apply it even if its content, metadata and ACL equal the current version's: a new version, "
    "extracted, chunked and embedded again (for a version that failed downstream). Without it, "
    "such a write is rejected as unchanged."
)


class DocumentIn(_Body):
    document_id: DocumentId
    title: str = Field(default="", max_length=1024)
    content: str
    content_type: ContentType = ContentType.TEXT
    metadata: Metadata = Field(default_factory=dict)
    acl: Acl = Field(default_factory=list)
    document_version: int | None = Field(default=None, ge=1)
    reindex: bool = Field(default=False, description=REINDEX)


class DocumentBatchIn(_Body):
    documents: list[DocumentIn] = Field(min_length=1)


class AccessChangeIn(_Body):
    metadata: Metadata | None = None
    acl: Acl | None = None
    document_version: int | None = Field(default=None, ge=1)


class CommandAccepted(BaseModel):
    command_id: str
    document_id: str
    position: WritePosition
    consistency_token: str


class CommandsAccepted(BaseModel):
    commands: list[CommandAccepted]
