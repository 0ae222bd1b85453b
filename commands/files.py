"""Binary documents (PDF, Office, e-mail) as upsert commands: inline bytes when small, else a claim check.

Every entrance that takes a file (the command API's uploads, the producer SDK, `ragstream ingest
--kafka`) builds its command here, so the choice between inline bytes and a blob reference is made
in one place, by one setting (blobs.inline_max_bytes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import PurePosixPath

from pydantic import ValidationError

from ragstream.blobs import BlobError, BlobReference, BlobStore
from ragstream.commands.exceptions import CommandNotWritten, InvalidCommand
from ragstream.contracts import BINARY_TYPES, ContentType, UpsertDocument

BINARY_SUFFIXES = {
    ".pdf": ContentType.PDF,
    ".docx": ContentType.DOCX,
    ".pptx": ContentType.PPTX,
    ".xlsx": ContentType.XLSX,
    ".eml": ContentType.EMAIL,
}


def binary_content_type(media_type: str | None, filename: str = "") -> ContentType:
    """The content type of an upload: the one it names (parameters dropped), else its file suffix."""
    named = (media_type or "").split(";", 1)[0].strip().lower()
    if named and named != "application/octet-stream":
        try:
            content_type = ContentType(named)
        except ValueError:
            raise InvalidCommand(f"unsupported content type {named!r}; supported: {supported()}") from None
        if content_type not in BINARY_TYPES:
            raise InvalidCommand(f"{named} is text: send it as a JSON document, not as a file")
        return content_type
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix in BINARY_SUFFIXES:
        return BINARY_SUFFIXES[suffix]
    raise InvalidCommand(f"give the file's content type (one of {supported()}) or a known file suffix")


def message_attachments(data: bytes) -> list[tuple[str, ContentType, bytes]]:
    """The attachments of an e-mail that are binary documents themselves (PDF, Office, e-mail):
    (file name, content type, bytes). Others (images, text files) stay names in the message's text."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        parts = list(message.iter_attachments()) if isinstance(message, EmailMessage) else []
    except Exception:  # an unparsable message is the extraction stage's to reject, with its reason
        return []
    found: list[tuple[str, ContentType, bytes]] = []
    for part in parts:
        name = part.get_filename() or ""
        try:
            content_type = binary_content_type(part.get_content_type(), name)
        except InvalidCommand:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            found.append((name or f"attachment{len(found) + 1}", content_type, payload))
    return found


def supported() -> str:
    return ", ".join(sorted(t.value for t in BINARY_TYPES))


async def binary_upsert(
    store: BlobStore,
    inline_max_bytes: int,
    *,
    data: bytes,
    content_type: ContentType,
    tenant: str,
    document_id: str,
    actor: str,
    title: str = "",
    metadata: Mapping[str, str] | None = None,
    acl: Sequence[str] = (),
    source: Mapping[str, str] | None = None,
    document_version: int | None = None,
    reindex: bool = False,
) -> UpsertDocument:
    """The upsert command of a file. Bytes above `inline_max_bytes` are stored first (content-addressed,
    so storing the same file twice is one blob) and the command carries their reference."""
    inline: bytes | None = data
    blob: BlobReference | None = None
    if data and len(data) > inline_max_bytes:
        try:
            blob = await asyncio.to_thread(store.put, data, content_type.value)
        except (BlobError, OSError) as exc:
            raise CommandNotWritten(f"the blob store did not take the file: {exc}") from exc
        inline = None
    try:
        return UpsertDocument(
            tenant=tenant, document_id=document_id, actor=actor, title=title,
            content_type=content_type, metadata=dict(metadata or {}), acl=list(acl),
            source=dict(source or {}), document_version=document_version, content_bytes=inline, blob=blob,
            reindex=reindex,
        )  # fmt: skip
    except ValidationError as exc:
        raise InvalidCommand(_reason(exc)) from exc


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )
