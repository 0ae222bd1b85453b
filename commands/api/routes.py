from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, status

from ragstream.commands.api.deps import BudgetDep, ProducerDep, SettingsDep
from ragstream.commands.api.schemas import (
    AccessChangeIn,
    CommandAccepted,
    CommandsAccepted,
    DocumentBatchIn,
    DocumentIn,
)
from ragstream.commands.sdk import WrittenCommand
from ragstream.contracts import DeleteDocument, DocumentCommand, UpdateDocumentAccess, UpsertDocument
from ragstream.http import DocumentPath
from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.security import Writer
from ragstream.http.service import COMMON_ERRORS, error_responses
from ragstream.topics import Lane

# Writing needs the `write` scope; the tenant and the recorded actor come from the credentials.
router = APIRouter(
    prefix="/v1/documents", tags=["documents"], route_class=StrictJSONRoute,
    responses=error_responses(*COMMON_ERRORS, 413, 503),
)  # fmt: skip


def accepted(written: list[WrittenCommand]) -> CommandsAccepted:
    return CommandsAccepted(
        commands=[
            CommandAccepted(
                command_id=w.command_id,
                document_id=w.document_id,
                position=w.position,
                consistency_token=w.position.token,
            )
            for w in written
        ]
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=CommandsAccepted)
async def upsert_documents(
    body: Annotated[DocumentIn | DocumentBatchIn, Body()],
    producer: ProducerDep,
    settings: SettingsDep,
    writer: Writer,
    budget: BudgetDep,
) -> CommandsAccepted:
    documents = body.documents if isinstance(body, DocumentBatchIn) else [body]
    if len(documents) > settings.api.max_batch_documents:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"a batch holds at most {settings.api.max_batch_documents} documents, got {len(documents)}",
        )
    await budget.charge(len(documents))
    commands: list[DocumentCommand] = [
        UpsertDocument(
            tenant=writer.tenant, actor=writer.subject, source={"via": "command-api"}, **doc.model_dump()
        )
        for doc in documents
    ]
    # More than one document is an import: its chunks go to the bulk lane, behind single edits.
    lane = Lane.BULK if len(commands) > 1 else Lane.INTERACTIVE
    return accepted(await producer.send_many(commands, lane=lane))


@router.delete("/{document_id:path}", status_code=status.HTTP_202_ACCEPTED, response_model=CommandsAccepted)
async def delete_document(
    document_id: DocumentPath,
    producer: ProducerDep,
    writer: Writer,
    budget: BudgetDep,
    document_version: int | None = None,
) -> CommandsAccepted:
    await budget.charge(1)
    command = DeleteDocument(
        tenant=writer.tenant,
        document_id=document_id,
        actor=writer.subject,
        document_version=document_version,
        source={"via": "command-api"},
    )
    return accepted([await producer.send(command)])


@router.patch("/{document_id:path}", status_code=status.HTTP_202_ACCEPTED, response_model=CommandsAccepted)
async def update_document_access(
    document_id: DocumentPath,
    body: AccessChangeIn,
    producer: ProducerDep,
    writer: Writer,
    budget: BudgetDep,
) -> CommandsAccepted:
    if body.metadata is None and body.acl is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give metadata, acl or both")
    await budget.charge(1)
    command = UpdateDocumentAccess(
        tenant=writer.tenant,
        document_id=document_id,
        actor=writer.subject,
        source={"via": "command-api"},
        **body.model_dump(),
    )
    return accepted([await producer.send(command)])
