"""The HTTP SDK of ragstream's command and query APIs, sync (`Client`) and async (`AsyncClient`).

Typed with the APIs' own request and response models; errors are typed exceptions carrying the
problem's `type`, `status` and `detail`; answers that say "later" (429, 503) are retried, honouring
Retry-After; a write's consistency token makes a read wait until the write is searchable:

    from ragstream.client import Client, DocumentIn

    with Client.from_profile() as client:
        client.upsert(DocumentIn(document_id="faq/1", content="Refunds take 5 days.")).wait_searchable()
        print(client.answer("How long do refunds take?").answer)

A webhook receiver checks each delivery with `verify_webhook(secret, headers, body)`.
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
    AnswerFallback,
    AnswerIn,
    AnswerOut,
    HistoryOut,
    SearchIn,
    SearchOut,
    TemplateIn,
    TemplateOut,
    TemplatesOut,
)
from ragstream.queries.notifications.outbox import Delivery
from ragstream.queries.notifications.schemas import WebhookSecret
from ragstream.queries.notifications.signing import InvalidSignature
from ragstream.queries.notifications.signing import verify as verify_webhook
from ragstream.queries.notifications.subscriptions import Subscription
from ragstream.queries.outcomes import CommandOutcome
from ragstream.queries.registry.store import DocumentRecord

__all__ = [
    "NO_RETRIES", "AnswerCitations", "AnswerDelta", "AnswerEvent", "AnswerFallback", "AnswerIn",
    "AnswerOut", "ApiError", "AsyncClient", "AsyncWriteResult", "BadRequest", "BodyTooLarge", "Client",
    "ClientError", "CommandAccepted", "CommandOutcome", "Conflict", "Connection", "Delivery",
    "DocumentIn", "DocumentRecord", "Forbidden", "HistoryOut", "InternalError", "InvalidRequest",
    "InvalidSignature", "JobOut", "MethodNotAllowed", "NotCaughtUp", "NotFound", "ProfileError",
    "QuotaExceeded", "RateLimited", "RebuildIn", "ReplayIn", "RetryPolicy", "SearchIn", "SearchOut",
    "Subscription", "TemplateIn", "TemplateOut", "TemplatesOut", "Unauthenticated", "Unavailable",
    "Unreachable", "WebhookSecret", "WhoAmI", "WriteResult", "Written", "resolve", "verify_webhook",
]  # fmt: skip
