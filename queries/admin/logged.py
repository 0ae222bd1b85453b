"""The query service with a query history: each search and answer is recorded, fire-and-forget.

An answer is recorded once it is written (for a streamed one: once the stream ends), so its entry
says which prompt template wrote it and whether the fallback generator did.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import UTC, datetime

from ragstream.queries.admin.querylog import QueryLog, QueryLogEntry
from ragstream.queries.answers.base import Passage
from ragstream.queries.answers.resilient import Fallback, Generated, StreamItem
from ragstream.queries.answers.templates import PromptTemplate
from ragstream.queries.service import QueryService, SearchQuery, SearchResult


@dataclasses.dataclass
class _Deferred:
    """The entry of an answer's search, held until the answer is written."""

    entry: QueryLogEntry | None = None


# Set while an answer searches; travels with the request's task.
_DEFERRED: ContextVar[_Deferred | None] = ContextVar("ragstream_query_deferred", default=None)


class LoggedQueryService(QueryService):
    query_log: QueryLog | None = None

    async def search(self, q: SearchQuery) -> SearchResult:
        asked_at = datetime.now(UTC)
        started = time.perf_counter()
        result = await super().search(q)
        if self.query_log is None:
            return result
        deferred = _DEFERRED.get()
        chunks = [h.chunk for h in result.hits]
        entry = QueryLogEntry(
            subject=q.subject,
            tenant=q.tenant,
            principals=list(q.principals or []),
            endpoint="search" if deferred is None else "answer",
            query=q.text,
            mode=q.mode,
            document_ids=list(dict.fromkeys(c.document_id for c in chunks)),
            chunk_ids=[c.chunk_id for c in chunks],
            latency_ms=(time.perf_counter() - started) * 1000,
            asked_at=asked_at,
        )
        if deferred is None:
            self.query_log.record(entry)
        else:
            deferred.entry = entry
        return result

    async def answer(
        self, q: SearchQuery, template: PromptTemplate | None = None
    ) -> tuple[Generated, list[Passage], SearchResult]:
        deferred = _Deferred()
        token = _DEFERRED.set(deferred)
        try:
            generated, passages, result = await super().answer(q, template)
        finally:
            _DEFERRED.reset(token)
        self._record(deferred, template, generated.fallback)
        return generated, passages, result

    async def stream_answer(
        self, q: SearchQuery, template: PromptTemplate | None = None
    ) -> tuple[AsyncIterator[StreamItem], list[Passage]]:
        deferred = _Deferred()
        token = _DEFERRED.set(deferred)
        try:
            items, passages = await super().stream_answer(q, template)
        finally:
            _DEFERRED.reset(token)
        return self._logged(items, deferred, template), passages

    async def _logged(
        self, items: AsyncIterator[StreamItem], deferred: _Deferred, template: PromptTemplate | None
    ) -> AsyncIterator[StreamItem]:
        fallback: Fallback | None = None
        try:
            async for item in items:
                if isinstance(item, Fallback):
                    fallback = item
                yield item
        finally:
            self._record(deferred, template, fallback)

    def _record(
        self, deferred: _Deferred, template: PromptTemplate | None, fallback: Fallback | None
    ) -> None:
        if self.query_log is None or deferred.entry is None:
            return
        self.query_log.record(
            dataclasses.replace(
                deferred.entry,
                template=template.label if template is not None else "",
                fallback=fallback.generator if fallback is not None else "",
            )
        )
