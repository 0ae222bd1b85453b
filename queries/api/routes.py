from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import StreamingResponse

from ragstream.auth import Identity
from ragstream.http import DocumentPath
from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.security import Reader, throttle
from ragstream.http.service import COMMON_ERRORS, error_responses
from ragstream.http.sse import encode_event
from ragstream.queries.answers.base import Passage
from ragstream.queries.answers.citations import answer_from_text
from ragstream.queries.api.deps import RegistryDep, ServiceDep
from ragstream.queries.api.schemas import (
    AnswerCitations,
    AnswerDelta,
    AnswerIn,
    AnswerOut,
    HistoryOut,
    RetrieverScores,
    SearchHitOut,
    SearchIn,
    SearchOut,
)
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.store import DocumentRecord
from ragstream.queries.service import SearchQuery

# Reading needs the `read` scope and acts for the caller's tenant with its principals (without
# principals a caller sees only documents whose ACL is empty, tenant-wide).
router = APIRouter(
    prefix="/v1", tags=["queries"], route_class=StrictJSONRoute, dependencies=[Depends(throttle)],
    responses=error_responses(*COMMON_ERRORS, 413),
)  # fmt: skip
# A consistency token can be malformed (400) or wait past the timeout (504).
TOKEN_ERRORS = error_responses(400, 503, 504)


def _query(reader: Identity, text: str) -> dict[str, Any]:
    return {
        "text": text,
        "tenant": reader.tenant,
        "principals": list(reader.principals),
        "subject": reader.subject,
    }


@router.post("/search", response_model=SearchOut, responses=TOKEN_ERRORS)
async def search(body: SearchIn, service: ServiceDep, reader: Reader) -> SearchOut:
    query = SearchQuery(
        **_query(reader, body.query), metadata=body.filters.metadata, document_ids=body.filters.document_ids,
        limit=body.limit, offset=body.offset, mode=body.mode, fusion=body.fusion, rrf_k=body.rrf_k,
        alpha=body.alpha, consistency_token=body.consistency_token,
    )  # fmt: skip
    result = await service.search(query)
    hits = [
        SearchHitOut(
            rank=body.offset + i,
            score=h.score,
            document_id=h.chunk.document_id,
            chunk_id=h.chunk.chunk_id,
            version=h.chunk.version,
            title=h.chunk.title,
            text=h.chunk.text,
            start=h.chunk.start,
            end=h.chunk.end,
            metadata=dict(h.chunk.metadata),
            scores=RetrieverScores(
                bm25=h.bm25_score, bm25_rank=h.bm25_rank, vector=h.vector_score, vector_rank=h.vector_rank
            ),
        )
        for i, h in enumerate(result.hits, start=1)
    ]
    return SearchOut(hits=hits, timings_ms=result.timings_ms)


@router.post("/answer", response_model=AnswerOut, responses=TOKEN_ERRORS)
async def answer(body: AnswerIn, service: ServiceDep, reader: Reader) -> AnswerOut | StreamingResponse:
    query = SearchQuery(
        **_query(reader, body.question), metadata=body.filters.metadata,
        document_ids=body.filters.document_ids, limit=body.passages, mode=body.mode,
        consistency_token=body.consistency_token,
    )  # fmt: skip
    if body.stream:
        deltas, passages = await service.stream_answer(query)
        return StreamingResponse(_sse(deltas, passages), media_type="text/event-stream")
    result, passages, search_result = await service.answer(query)
    return AnswerOut(
        answer=result.text,
        grounded=result.grounded,
        citations=list(result.citations),
        passages=passages,
        timings_ms=search_result.timings_ms,
    )


async def _sse(deltas: AsyncIterator[str], passages: list[Passage]) -> AsyncIterator[bytes]:
    """Text deltas as they come, then one `citations` event resolved against the passages."""
    parts = []
    async for delta in deltas:
        parts.append(delta)
        yield encode_event("delta", AnswerDelta(text=delta).model_dump_json())
    final = answer_from_text("".join(parts), passages)
    citations = AnswerCitations(grounded=final.grounded, citations=list(final.citations))
    yield encode_event("citations", citations.model_dump_json())
    yield encode_event("done", "{}")


async def _visible_document(
    registry: RegistryStore, tenant: str, document_id: str, principals: list[str]
) -> DocumentRecord:
    """The document if the caller may see it; an ACL-hidden document is as absent as a missing one."""
    record = await registry.get_document(tenant, document_id)
    if record is None or (record.acl and not set(record.acl) & set(principals)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"document {document_id!r} not found")
    return record


@router.get(
    "/documents/{document_id:path}/history", response_model=HistoryOut, responses=error_responses(404)
)
async def document_history(document_id: DocumentPath, registry: RegistryDep, reader: Reader) -> HistoryOut:
    await _visible_document(registry, reader.tenant, document_id, list(reader.principals))
    return HistoryOut(document_id=document_id, entries=await registry.history(reader.tenant, document_id))


@router.get("/documents/{document_id:path}", response_model=DocumentRecord, responses=error_responses(404))
async def get_document(document_id: DocumentPath, registry: RegistryDep, reader: Reader) -> DocumentRecord:
    return await _visible_document(registry, reader.tenant, document_id, list(reader.principals))
