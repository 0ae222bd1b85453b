"""The HTTP SDK of ragstream's command and query APIs, sync (`Client`) and async (`AsyncClient`).

Typed with the APIs' own request and response models; errors are typed exceptions carrying the
problem's `type`, `status` and `detail`; answers that say "later" (429, 503) are retried, honouring
Retry-After; a write's consistency token makes a read wait until the write is searchable:

    from ragstream.client import Client, DocumentIn

    with Client.from_profile() as client:
        client.upsert(DocumentIn(document_id="faq/1", content="Refunds take 5 days.")).wait_searchable()
        print(client.answer("How long do refunds take?").answer)
"""

from ragstream.client.aio import AsyncClient, AsyncWriteResult
from ragstream.client.errors import (
    ApiError,
    BadRequest,
    BodyTooLarge,
    ClientError,
    Conflict,
    Forbidden,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotCaughtUp,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Unauthenticated,
    Unavailable,
    Unreachable,
)
from ragstream.client.operations import NO_RETRIES, AnswerEvent, RetryPolicy, Written
from ragstream.client.profiles import Connection, ProfileError, resolve
from ragstream.client.sync import Client, WriteResult
from ragstream.commands.api.schemas import CommandAccepted, DocumentIn
from ragstream.http.security import WhoAmI
from ragstream.queries.admin.schemas import JobOut, RebuildIn, ReplayIn
from ragstream.queries.api.schemas import (
    AnswerCitations,
    AnswerDelta,
    AnswerIn,
    AnswerOut,
    HistoryOut,
    SearchIn,
    SearchOut,
)
from ragstream.queries.registry.store import DocumentRecord

__all__ = [
    "NO_RETRIES", "AnswerCitations", "AnswerDelta", "AnswerEvent", "AnswerIn", "AnswerOut", "ApiError",
    "AsyncClient", "AsyncWriteResult", "BadRequest", "BodyTooLarge", "Client", "ClientError",
    "CommandAccepted", "Conflict", "Connection", "DocumentIn", "DocumentRecord", "Forbidden",
    "HistoryOut", "InternalError", "InvalidRequest", "JobOut", "MethodNotAllowed", "NotCaughtUp",
    "NotFound", "ProfileError", "QuotaExceeded", "RateLimited", "RebuildIn", "ReplayIn", "RetryPolicy",
    "SearchIn", "SearchOut", "Unauthenticated", "Unavailable", "Unreachable", "WhoAmI", "WriteResult",
    "Written", "resolve",
]  # fmt: skip
