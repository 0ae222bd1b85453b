"""The query service with a query history: each search and answer is recorded, fire-and-forget."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import UTC, datetime

from ragstream.queries.admin.querylog import QueryLog, QueryLogEntry
from ragstream.queries.answers.base import Answer, Passage
from ragstream.queries.service import QueryService, SearchQuery, SearchResult

# Answers search first; the endpoint travels with the request's task so the entry says "answer".
_ENDPOINT: ContextVar[str] = ContextVar("ragstream_query_endpoint", default="search")


class LoggedQueryService(QueryService):
    query_log: QueryLog | None = None

    async def search(self, q: SearchQuery) -> SearchResult:
        asked_at = datetime.now(UTC)
        started = time.perf_counter()
        result = await super().search(q)
        if self.query_log is not None:
            chunks = [h.chunk for h in result.hits]
            self.query_log.record(
                QueryLogEntry(
                    subject=q.subject,
                    tenant=q.tenant,
                    principals=list(q.principals or []),
                    endpoint=_ENDPOINT.get(),
                    query=q.text,
                    mode=q.mode,
                    document_ids=list(dict.fromkeys(c.document_id for c in chunks)),
                    chunk_ids=[c.chunk_id for c in chunks],
                    latency_ms=(time.perf_counter() - started) * 1000,
                    asked_at=asked_at,
                )
            )
        return result

    async def answer(self, q: SearchQuery) -> tuple[Answer, list[Passage], SearchResult]:
        token = _ENDPOINT.set("answer")
        try:
            return await super().answer(q)
        finally:
            _ENDPOINT.reset(token)

    async def stream_answer(self, q: SearchQuery) -> tuple[AsyncIterator[str], list[Passage]]:
        token = _ENDPOINT.set("answer")
        try:
            return await super().stream_answer(q)
        finally:
            _ENDPOINT.reset(token)
