"""What a dead letter says about a document: whose it is, which command and version, which processor
refused it and why. The registry (a `failed` entry in the audit trail), the webhooks
(`document.dead_lettered`) and the console read dead letters through this one reader."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ragstream.identifiers import TENANT_PATTERN
from ragstream.records import LogRecord

# Dead letters of these processors mean the version never reaches the read models.
BLOCKS_INDEXING = frozenset(
    {"validate_commands", "chunk_documents", "embed_chunks", "embed_bulk_chunks", "project_shared_indexes"}
)
_TENANT = re.compile(TENANT_PATTERN)


@dataclass(frozen=True)
class DocumentDeadLetter:
    tenant: str
    document_id: str
    command_id: str | None
    # The record's own version (an event's), else the version a command expected to replace.
    version: int | None
    # True when `version` is the record's own: a command carries only the one it expected.
    own_version: bool
    record: str  # the dead-lettered record's type; "" for bytes that did not decode
    actor: str
    processor: str
    error_type: str
    reason: str
    source: str  # where the record was refused: topic/partition/offset

    @property
    def blocks_indexing(self) -> bool:
        return self.processor in BLOCKS_INDEXING


def _text(headers: Mapping[str, bytes], name: str) -> str:
    return headers.get(name, b"").decode(errors="replace")


def _version(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_dead_letter(rec: LogRecord) -> DocumentDeadLetter | None:
    """The document a dead-letter record is about, by its key (or its record when the key is
    unusable); None when neither names a valid tenant and a document."""
    h, r = rec.headers, rec.record
    tenant, _, document_id = (rec.key or b"").decode(errors="replace").partition("/")
    if not (_TENANT.match(tenant) and document_id):
        tenant, document_id = str(r.get("tenant", "")), str(r.get("document_id", ""))
        if not (_TENANT.match(tenant) and document_id):
            return None
    return DocumentDeadLetter(
        tenant=tenant,
        document_id=document_id,
        command_id=str(r.get("command_id") or _text(h, "command_id")) or None,
        version=_version(r.get("version", r.get("document_version"))),
        own_version=_version(r.get("version")) is not None,
        record=rec.name,
        actor=str(r.get("actor") or ""),
        processor=_text(h, "processor"),
        error_type=_text(h, "error_type"),
        reason=_text(h, "error"),
        source=f"{_text(h, 'source_topic')}/{_text(h, 'source_partition')}/{_text(h, 'source_offset')}",
    )
