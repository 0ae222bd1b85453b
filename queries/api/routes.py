from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from ragstream.auth import Identity
from ragstream.http import DocumentPath
from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.security import Reader, throttle
from ragstream.http.service import COMMON_ERRORS, error_responses
from ragstream.http.sse import encode_event
from ragstream.identifiers import COMMAND_ID_MAX_LENGTH, DOCUMENT_ID_PATTERN
from ragstream.queries.answers.base import Passage
from ragstream.queries.answers.citations import answer_from_text
from ragstream.queries.answers.exceptions import GeneratorUnavailable
from ragstream.queries.answers.resilient import Fallback, StreamItem
from ragstream.queries.answers.templates import PromptTemplate
from ragstream.queries.api.deps import EventSlotsDep, RegistryDep, ServiceDep, SettingsDep, TemplatesDep
from ragstream.queries.api.events import Event, event_stream, outcome_event, problem_event
from ragstream.queries.api.schemas import (
    AnswerCitations,
    AnswerDelta,
    AnswerFallback,
    AnswerIn,
    AnswerOut,
    HistoryOut,
    RetrieverScores,
    SearchHitOut,
    SearchIn,
    SearchOut,
)
from ragstream.queries.outcomes import OutcomeWaiter
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.store import DocumentRecord
from ragstream.queries.service import QueryService, SearchQuery

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
        alpha=body.alpha, normalization=body.normalization, sibling_weight=body.sibling_weight,
        consistency_token=body.consistency_token,
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
            location=h.chunk.location,
            metadata=dict(h.chunk.metadata),
            scores=RetrieverScores(
                bm25=h.bm25_score, bm25_rank=h.bm25_rank, vector=h.vector_score, vector_rank=h.vector_rank
            ),
        )
        for i, h in enumerate(result.hits, start=1)
    ]
    return SearchOut(hits=hits, timings_ms=result.timings_ms)


async def _template(
    service: QueryService, templates: TemplatesDep, tenant: str, body: AnswerIn
) -> PromptTemplate | None:
    """The template an answer is written with. Only a language model takes one, so for the
    extractive generator none is looked up unless the request names one (which must then exist)."""
    if body.template is None and not service.generator.uses_templates:
        return None
    return await templates.resolve(tenant, body.template, body.template_version)


@router.post("/answer", response_model=AnswerOut, responses={**TOKEN_ERRORS, **error_responses(404)})
async def answer(
    body: AnswerIn, service: ServiceDep, templates: TemplatesDep, reader: Reader
) -> AnswerOut | StreamingResponse:
    query = SearchQuery(
        **_query(reader, body.question), metadata=body.filters.metadata,
        document_ids=body.filters.document_ids, limit=body.passages, mode=body.mode,
        consistency_token=body.consistency_token,
    )  # fmt: skip
    template = await _template(service, templates, reader.tenant, body)
    if body.stream:
        items, passages = await service.stream_answer(query, template)
        return StreamingResponse(_sse(items, passages), media_type="text/event-stream")
    generated, passages, search_result = await service.answer(query, template)
    result, fallback = generated.answer, generated.fallback
    return AnswerOut(
        answer=result.text,
        grounded=result.grounded,
        citations=list(result.citations),
        passages=passages,
        timings_ms=search_result.timings_ms,
        template=generated.template,
        fallback=fallback.generator if fallback is not None else None,  # type: ignore[arg-type]
        fallback_reason=fallback.reason if fallback is not None else None,
    )


async def _sse(items: AsyncIterator[StreamItem], passages: list[Passage]) -> AsyncIterator[bytes]:
    """A `fallback` event if the fallback writes the answer, text deltas as they come, then one
    `citations` event resolved against the passages; `error` if the model fails mid-answer."""
    parts = []
    try:
        async for item in items:
            if isinstance(item, Fallback):
                fallback = AnswerFallback(generator=item.generator, reason=item.reason)  # type: ignore[arg-type]
                yield encode_event("fallback", fallback.model_dump_json())
                continue
            parts.append(item)
            yield encode_event("delta", AnswerDelta(text=item).model_dump_json())
    except GeneratorUnavailable:
        # The text so far is the client's already: it cannot be swapped for the fallback's.
        name, data = problem_event("unavailable", "the answer generator failed mid-answer; retry later")
        yield encode_event(name, data)
        return
    final = answer_from_text("".join(parts), passages)
    citations = AnswerCitations(grounded=final.grounded, citations=list(final.citations))
    yield encode_event("citations", citations.model_dump_json())
    yield encode_event("done", "{}")


async def _visible_document(
    registry: RegistryStore, tenant: str, document_id: str, principals: list[str]
) -> DocumentRecord:
    """The document if the caller may see it; an ACL-hidden document is as absent as a missing one."""
    record = await registry.get_document(tenant, document_id)
    if record is None or not _may_see(record, principals):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"document {document_id!r} not found")
    return record


def _may_see(record: DocumentRecord | None, principals: list[str]) -> bool:
    """Whether the caller's principals may see the document (a missing one hides nothing)."""
    return record is None or not record.acl or bool(set(record.acl) & set(principals))


@router.get(
    "/documents/{document_id:path}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "One event: searchable, rejected, failed or timeout",
        },
        **error_responses(400, 404),
    },
)
async def document_events(
    document_id: DocumentPath,
    # No control characters: the id goes to PostgreSQL, which refuses NUL once the stream has begun.
    command_id: Annotated[
        str,
        Query(
            min_length=1,
            max_length=COMMAND_ID_MAX_LENGTH,
            pattern=DOCUMENT_ID_PATTERN,
            description="The write's command id",
        ),
    ],
    service: ServiceDep,
    registry: RegistryDep,
    slots: EventSlotsDep,
    settings: SettingsDep,
    reader: Reader,
    consistency_token: Annotated[
        str | None, Query(max_length=512, description="The write's token: wait on the index feed at once")
    ] = None,
    timeout_s: Annotated[
        float | None, Query(gt=0, le=600, description="Default and most: the node's events timeout")
    ] = None,
) -> StreamingResponse:
    """Waits for one write (command) on the document: an event named `searchable` the moment this
    node's read models hold its version, `rejected` (with the reason), `failed` (dead-lettered on
    its way to the read models, with the processor and error), or `timeout`; then the stream ends.
    Keep-alive comments are sent while waiting."""
    principals = list(reader.principals)
    if not _may_see(await registry.get_document(reader.tenant, document_id), principals):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"document {document_id!r} not found")
    positions = await service.check_token(consistency_token) if consistency_token else None
    limit = settings.notifications.events_timeout_s
    wait_s = min(timeout_s or limit, limit)
    waiter = OutcomeWaiter(service, registry)

    async def outcome() -> Event:
        result = await waiter.wait(reader.tenant, document_id, command_id, positions, wait_s)
        if result.outcome == "searchable" and not _may_see(
            await registry.get_document(reader.tenant, document_id), principals
        ):
            return problem_event("not-found", f"document {document_id!r} not found")
        return outcome_event(result)

    return event_stream(outcome, slots.take(reader.tenant))


@router.get(
    "/documents/{document_id:path}/history", response_model=HistoryOut, responses=error_responses(404)
)
async def document_history(document_id: DocumentPath, registry: RegistryDep, reader: Reader) -> HistoryOut:
    if await registry.get_document(reader.tenant, document_id) is None:
        # Every upsert of it was rejected (an unreadable file, say) or dead-lettered before it was
        # decided: it lives only in the tenant's audit log, and whoever sent it needs the reasons.
        # No ACL was ever set, so none applies.
        entries = await registry.history(reader.tenant, document_id)
        if entries and all(e.outcome in ("rejected", "failed") for e in entries):
            return HistoryOut(document_id=document_id, entries=entries)
    await _visible_document(registry, reader.tenant, document_id, list(reader.principals))
    return HistoryOut(document_id=document_id, entries=await registry.history(reader.tenant, document_id))


@router.get("/documents/{document_id:path}", response_model=DocumentRecord, responses=error_responses(404))
async def get_document(document_id: DocumentPath, registry: RegistryDep, reader: Reader) -> DocumentRecord:
    return await _visible_document(registry, reader.tenant, document_id, list(reader.principals))
