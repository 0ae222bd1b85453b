"""File uploads: a binary document (PDF, Office, e-mail) as raw bytes or as a multipart form.

The body limit (api.max_command_body_bytes), the rate limits and the daily write quota apply as to
JSON commands. The bytes travel inline or through the blob store (commands/files.py); extraction
happens in the stream workers, so a file that cannot be read ends as a rejected command with the reason.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, HTTPException, Query, Request, UploadFile, status
from pydantic import TypeAdapter, ValidationError

from ragstream.commands.api.deps import BudgetDep, ProducerDep
from ragstream.commands.api.routes import accepted
from ragstream.commands.api.schemas import REINDEX, CommandsAccepted
from ragstream.commands.exceptions import InvalidCommand
from ragstream.commands.files import binary_content_type, message_attachments
from ragstream.contracts import Acl, ContentType, Metadata
from ragstream.http import DocumentPath
from ragstream.http.security import Writer
from ragstream.http.service import COMMON_ERRORS, error_responses

router = APIRouter(
    prefix="/v1/files", tags=["documents"], responses=error_responses(*COMMON_ERRORS, 413, 415, 503)
)
_METADATA = TypeAdapter(Metadata)
_ACL = TypeAdapter(Acl)


def _metadata(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        return _METADATA.validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise InvalidCommand(f"metadata must be a JSON object of short strings: {exc}") from exc


def _acl(entries: list[str]) -> list[str]:
    try:
        return _ACL.validate_python(entries)
    except ValidationError as exc:
        raise InvalidCommand(f"acl: {exc}") from exc


async def _upload(
    *, data: bytes, media_type: str | None, filename: str, document_id: str, title: str, metadata: str,
    acl: list[str], document_version: int | None, reindex: bool, writer: Writer, producer: ProducerDep,
    budget: BudgetDep,
) -> CommandsAccepted:  # fmt: skip
    try:
        content_type = binary_content_type(media_type, filename)
    except InvalidCommand as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from exc
    # Charged before any blob is stored; an e-mail's attachments that are documents become documents
    # of their own (after the message), one command each.
    attachments = len(message_attachments(data)) if content_type is ContentType.EMAIL else 0
    await budget.charge(1 + attachments)
    commands = await producer.file_commands(
        data=data, content_type=content_type, tenant=writer.tenant, document_id=document_id, actor=writer.subject,
        title=title or filename.rsplit("/", 1)[-1], metadata=_metadata(metadata), acl=_acl(acl),
        source={"via": "command-api", "upload": filename[:1024]}, document_version=document_version,
        reindex=reindex,
    )  # fmt: skip
    return accepted(await producer.send_many(commands))


@router.put("/{document_id:path}", status_code=status.HTTP_202_ACCEPTED, response_model=CommandsAccepted)
async def put_file(
    document_id: DocumentPath,
    request: Request,
    producer: ProducerDep,
    writer: Writer,
    budget: BudgetDep,
    content_type: Annotated[str | None, Header()] = None,
    title: str = "",
    metadata: Annotated[str, Query(description="A JSON object of strings.")] = "",
    acl: Annotated[list[str] | None, Query()] = None,
    document_version: Annotated[int | None, Query(ge=1)] = None,
    reindex: Annotated[bool, Query(description=REINDEX)] = False,
) -> CommandsAccepted:
    """Create or replace a document from the raw bytes of a file; its Content-Type says what it is."""
    return await _upload(
        data=await request.body(), media_type=content_type, filename=document_id, document_id=document_id,
        title=title, metadata=metadata, acl=acl or [], document_version=document_version, reindex=reindex,
        writer=writer, producer=producer, budget=budget,
    )  # fmt: skip


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=CommandsAccepted)
async def post_file(
    file: Annotated[UploadFile, File(description="The document (PDF, DOCX, PPTX, XLSX, EML).")],
    producer: ProducerDep,
    writer: Writer,
    budget: BudgetDep,
    document_id: Annotated[str | None, Form()] = None,
    title: Annotated[str, Form()] = "",
    metadata: Annotated[str, Form(description="A JSON object of strings.")] = "",
    acl: Annotated[list[str] | None, Form()] = None,
    document_version: Annotated[int | None, Form(ge=1)] = None,
    reindex: Annotated[bool, Form(description=REINDEX)] = False,
) -> CommandsAccepted:
    """Create or replace a document from a multipart upload; the id defaults to the file name."""
    filename = file.filename or ""
    doc_id = document_id or filename
    if not doc_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give document_id or a file name")
    return await _upload(
        data=await file.read(), media_type=file.content_type, filename=filename, document_id=doc_id,
        title=title, metadata=metadata, acl=acl or [], document_version=document_version, reindex=reindex,
        writer=writer, producer=producer, budget=budget,
    )  # fmt: skip
