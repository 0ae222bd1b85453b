"""What each SDK call asks of the APIs and makes of the answers, without doing any I/O.

An operation is a generator: it yields the `Call`s it needs and receives each answer (an error
answer is thrown into it as the typed exception, so an operation may handle one, as
`wait_searchable` handles 504), and returns the typed result. The sync and the async client only
drive these generators (ragstream/client/sync.py, aio.py), so both do exactly the same requests.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from ragstream.client.errors import ClientError, NotCaughtUp, RateLimited, Unavailable, error_from_problem
from ragstream.commands.api.schemas import AccessChangeIn, CommandAccepted, CommandsAccepted, DocumentIn
from ragstream.contracts import consistency_token
from ragstream.http.security import WhoAmI
from ragstream.http.sse import ServerSentEvent, SseDecoder
from ragstream.queries.admin.schemas import JobOut, RebuildIn, ReplayIn
from ragstream.queries.api.schemas import (
    AnswerCitations,
    AnswerDelta,
    AnswerFallback,
    AnswerIn,
    AnswerOut,
    Filters,
    HistoryOut,
    SearchIn,
    SearchOut,
)
from ragstream.queries.outcomes import CommandOutcome
from ragstream.queries.registry.store import DocumentRecord

T = TypeVar("T")
Api = Literal["commands", "queries"]
Mode = Literal["hybrid", "bm25", "dense"]
# Under the command API's limits (256 documents, 8 MiB a request) with room to spare.
BATCH_DOCUMENTS = 64
BATCH_BYTES = 4 * 1024 * 1024
_DOCUMENT = TypeAdapter(DocumentRecord)
_OUTCOME = TypeAdapter(CommandOutcome)
_JOBS = TypeAdapter(list[JobOut])


@dataclass(frozen=True)
class Call:
    api: Api
    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    # The answer is read as it arrives (a streamed answer); the caller closes it.
    stream: bool = False
    # Retried under the client's RetryPolicy when the answer says "later" (429, 503).
    retry: bool = True
    # A raw body (a file upload) and its headers (Content-Type), instead of `json`.
    content: bytes | None = None
    headers: Mapping[str, str] | None = None


Operation = Generator[Call, httpx.Response, T]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of answers that say "later": 429 (rate-limited) and 503 (unavailable).

    The wait is the answer's Retry-After when it gives one, else exponential backoff with jitter;
    a Retry-After longer than `max_wait_s` (a daily quota, say) is not waited for but raised."""

    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_wait_s: float = 60.0

    def delay(self, error: ClientError, attempt: int) -> float | None:
        """Seconds to wait before attempt `attempt + 1` (0-based), or None: raise `error`."""
        if attempt + 1 >= self.attempts or not isinstance(error, RateLimited | Unavailable):
            return None
        wait = error.retry_after_s
        if wait is None:
            wait = min(self.max_backoff_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
        return wait if wait <= self.max_wait_s else None


NO_RETRIES = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class Written:
    """The commands a write produced; `consistency_token` makes a query wait until they are applied."""

    commands: list[CommandAccepted] = field(default_factory=list)

    @property
    def consistency_token(self) -> str:
        return consistency_token(c.position for c in self.commands)


def _json(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


def _document_path(document_id: str) -> str:
    return "/v1/documents/" + quote(document_id, safe="/")


def _parsed(model: type[BaseModel], response: httpx.Response) -> Any:
    return model.model_validate_json(response.content)


def whoami(api: Api = "queries") -> Operation[WhoAmI]:
    """Who the credential is: subject, tenant, principals and scopes (`GET /v1/whoami`)."""
    response = yield Call(api, "GET", "/v1/whoami")
    return WhoAmI.model_validate_json(response.content)


def batches(
    documents: Iterable[DocumentIn], size: int = BATCH_DOCUMENTS, max_bytes: int = BATCH_BYTES
) -> Iterable[list[DocumentIn]]:
    """Documents in batches of at most `size` documents and about `max_bytes` of JSON."""
    batch: list[DocumentIn] = []
    used = 0
    for document in documents:
        cost = len(document.model_dump_json())
        if batch and (len(batch) >= size or used + cost > max_bytes):
            yield batch
            batch, used = [], 0
        batch.append(document)
        used += cost
    if batch:
        yield batch


def upsert(
    documents: DocumentIn | Iterable[DocumentIn], *, batch_size: int = BATCH_DOCUMENTS
) -> Operation[Written]:
    """Create or replace documents (`POST /v1/documents`), in batches the command API accepts."""
    accepted: list[CommandAccepted] = []
    for batch in batches([documents] if isinstance(documents, DocumentIn) else documents, batch_size):
        body = {"documents": [_json(d) for d in batch]}
        response = yield Call("commands", "POST", "/v1/documents", json=body)
        accepted.extend(CommandsAccepted.model_validate_json(response.content).commands)
    return Written(accepted)


def upload(
    document_id: str,
    data: bytes,
    content_type: str,
    *,
    title: str = "",
    metadata: Mapping[str, str] | None = None,
    acl: Sequence[str] = (),
    document_version: int | None = None,
    reindex: bool = False,
) -> Operation[Written]:
    """Create or replace a document from a file's bytes (`PUT /v1/files/{id}`): PDF, DOCX, PPTX,
    XLSX or an e-mail, named by `content_type`. The workers extract its text; a file they cannot
    read ends as a rejected command with the reason (see `history`)."""
    params: dict[str, Any] = {"title": title} if title else {}
    if metadata:
        params["metadata"] = json.dumps(dict(metadata))
    if acl:
        params["acl"] = list(acl)
    if document_version is not None:
        params["document_version"] = document_version
    if reindex:
        params["reindex"] = "true"
    path = "/v1/files/" + quote(document_id, safe="/")
    response = yield Call(
        "commands", "PUT", path, params=params, content=data, headers={"Content-Type": content_type}
    )
    return Written(CommandsAccepted.model_validate_json(response.content).commands)


def delete(document_id: str, *, document_version: int | None = None) -> Operation[Written]:
    """Delete a document (`DELETE /v1/documents/{id}`)."""
    params = {} if document_version is None else {"document_version": document_version}
    response = yield Call("commands", "DELETE", _document_path(document_id), params=params)
    return Written(CommandsAccepted.model_validate_json(response.content).commands)


def update_access(
    document_id: str,
    *,
    metadata: Mapping[str, str] | None = None,
    acl: Sequence[str] | None = None,
    document_version: int | None = None,
) -> Operation[Written]:
    """Change a document's metadata and/or ACL without re-sending it (`PATCH /v1/documents/{id}`)."""
    body = AccessChangeIn(
        metadata=None if metadata is None else dict(metadata),
        acl=None if acl is None else list(acl),
        document_version=document_version,
    )
    response = yield Call("commands", "PATCH", _document_path(document_id), json=_json(body))
    return Written(CommandsAccepted.model_validate_json(response.content).commands)


def get_document(document_id: str) -> Operation[DocumentRecord]:
    """The registry's record of a document and what each read model holds (`GET /v1/documents/{id}`)."""
    response = yield Call("queries", "GET", _document_path(document_id))
    return _DOCUMENT.validate_json(response.content)


def history(document_id: str) -> Operation[HistoryOut]:
    """Every command on a document in log order, with actor and outcome."""
    response = yield Call("queries", "GET", _document_path(document_id) + "/history")
    result: HistoryOut = _parsed(HistoryOut, response)
    return result


def search(
    query: str | SearchIn,
    *,
    limit: int = 10,
    mode: Mode = "hybrid",
    metadata: Mapping[str, str] | None = None,
    consistency_token: str | None = None,
) -> Operation[SearchOut]:
    """Ranked passages (`POST /v1/search`); a `SearchIn` gives every option (offset, fusion, ...)."""
    body = query if isinstance(query, SearchIn) else SearchIn(
        query=query, limit=limit, mode=mode, filters=Filters(metadata=dict(metadata or {})),
        consistency_token=consistency_token,
    )  # fmt: skip
    response = yield Call("queries", "POST", "/v1/search", json=_json(body))
    result: SearchOut = _parsed(SearchOut, response)
    return result


def _answer_in(
    question: str | AnswerIn,
    passages: int,
    mode: Mode,
    metadata: Mapping[str, str] | None,
    consistency_token: str | None,
    template: str | None,
    stream: bool,
) -> AnswerIn:
    if isinstance(question, AnswerIn):
        return question.model_copy(update={"stream": stream})
    name, _, version = (template or "").partition("@")
    return AnswerIn(
        question=question, passages=passages, mode=mode, filters=Filters(metadata=dict(metadata or {})),
        consistency_token=consistency_token, stream=stream, template=name or None,
        template_version=int(version) if version.isdigit() else None,
    )  # fmt: skip


def answer(
    question: str | AnswerIn,
    *,
    passages: int = 5,
    mode: Mode = "hybrid",
    metadata: Mapping[str, str] | None = None,
    consistency_token: str | None = None,
    template: str | None = None,
) -> Operation[AnswerOut]:
    """A grounded answer with citations (`POST /v1/answer`); `template` names one of the tenant's
    prompt templates (`name` or `name@version`; default: the tenant's default). `fallback` in the
    answer says the language model failed and the extractive generator answered instead."""
    body = _answer_in(question, passages, mode, metadata, consistency_token, template, stream=False)
    response = yield Call("queries", "POST", "/v1/answer", json=_json(body))
    result: AnswerOut = _parsed(AnswerOut, response)
    return result


def stream_answer(
    question: str | AnswerIn,
    *,
    passages: int = 5,
    mode: Mode = "hybrid",
    metadata: Mapping[str, str] | None = None,
    consistency_token: str | None = None,
    template: str | None = None,
) -> Call:
    """A grounded answer as it is written: an `AnswerFallback` first if the language model failed
    and the extractive generator writes it, `AnswerDelta`s with the text, then one `AnswerCitations`."""
    body = _answer_in(question, passages, mode, metadata, consistency_token, template, stream=True)
    return Call("queries", "POST", "/v1/answer", json=_json(body), stream=True)


AnswerEvent = AnswerDelta | AnswerCitations | AnswerFallback


def answer_event(event: ServerSentEvent) -> AnswerEvent | None:
    """A streamed answer's event as its model; None for `done` (and any event this SDK predates).
    An `error` event (the model failed mid-answer) raises its typed error."""
    if event.event == "delta":
        return AnswerDelta.model_validate_json(event.data)
    if event.event == "citations":
        return AnswerCitations.model_validate_json(event.data)
    if event.event == "fallback":
        return AnswerFallback.model_validate_json(event.data)
    if event.event == "error":
        problem = json.loads(event.data)
        raise error_from_problem(problem, int(problem.get("status", 500)))
    return None


def wait_searchable(token: str, *, timeout_s: float = 60.0) -> Operation[None]:
    """Returns once the query API's read models have applied every write of `token`.

    The query API holds a query with a token for up to its consistency timeout (504 after that);
    this asks again until `timeout_s` has passed, then raises NotCaughtUp."""
    if not token:  # nothing was written
        return
    deadline = time.monotonic() + timeout_s
    body = SearchIn(query="consistency token", limit=1, mode="bm25", consistency_token=token)
    while True:
        try:
            yield Call("queries", "POST", "/v1/search", json=_json(body))
            return
        except NotCaughtUp:
            if time.monotonic() >= deadline:
                raise


def _events(text: str) -> list[ServerSentEvent]:
    decoder = SseDecoder()
    events = [e for line in text.splitlines() if (e := decoder.feed(line)) is not None]
    return [*events, *filter(None, [decoder.flush()])]


def wait_for(
    command: CommandAccepted | None = None,
    *,
    document_id: str | None = None,
    command_id: str | None = None,
    consistency_token: str | None = None,
    timeout_s: float = 60.0,
) -> Operation[CommandOutcome]:
    """What became of one write: `searchable` the moment the query node's read models hold it,
    `rejected` with the reason, `failed` when a stage dead-lettered it on its way to the read models
    (the processor and the error in `reason`), or `timeout` after `timeout_s` (`GET /v1/documents/{id}/events`,
    asked again while the node's own limit on one wait is shorter). Give the write's
    `CommandAccepted`, or its document id, command id and (optionally) consistency token."""
    if command is not None:
        document_id, command_id = command.document_id, command.command_id
        consistency_token = command.consistency_token
    if not (document_id and command_id):
        raise ValueError("give the command, or its document_id and command_id")
    deadline = time.monotonic() + timeout_s
    while True:
        params = {"command_id": command_id, "timeout_s": round(max(1.0, deadline - time.monotonic()), 1)}
        if consistency_token:
            params["consistency_token"] = consistency_token
        response = yield Call("queries", "GET", _document_path(document_id) + "/events", params=params)
        events = _events(response.text)
        if not events:  # the stream was cut before its event: ask again while there is time
            event = ServerSentEvent("timeout", json.dumps({"outcome": "timeout", "document_id": document_id,
                                                           "command_id": command_id}))  # fmt: skip
        else:
            event = events[-1]
        if event.event == "error":
            problem = json.loads(event.data)
            raise error_from_problem(problem, int(problem.get("status", 500)))
        outcome = _OUTCOME.validate_json(event.data)
        if outcome.outcome != "timeout" or time.monotonic() >= deadline:
            return outcome


def replay(body: ReplayIn) -> Operation[JobOut]:
    """Start re-applying the log to the query node's read models (admin); follow it with `job`."""
    response = yield Call("queries", "POST", "/v1/admin/replay", json=_json(body))
    result: JobOut = _parsed(JobOut, response)
    return result


def rebuild(body: RebuildIn) -> Operation[JobOut]:
    """Start a blue/green rebuild of the query node's read models (operator)."""
    response = yield Call("queries", "POST", "/v1/admin/rebuild", json=_json(body))
    result: JobOut = _parsed(JobOut, response)
    return result


def job(job_id: str) -> Operation[JobOut]:
    response = yield Call("queries", "GET", f"/v1/admin/jobs/{quote(job_id, safe='')}")
    result: JobOut = _parsed(JobOut, response)
    return result


def jobs() -> Operation[list[JobOut]]:
    response = yield Call("queries", "GET", "/v1/admin/jobs")
    return _JOBS.validate_json(response.content)


def _data(api: Api, method: str, path: str, **params: Any) -> Operation[dict[str, Any]]:
    response = yield Call(api, method, path, params={k: v for k, v in params.items() if v is not None})
    data: dict[str, Any] = response.json()
    return data


def generations() -> Operation[dict[str, Any]]:
    """The query node's index generations: which is live, how each was built (operator)."""
    return (yield from _data("queries", "GET", "/v1/admin/generations"))


def drop_generation(name: str) -> Operation[dict[str, Any]]:
    return (yield from _data("queries", "DELETE", f"/v1/admin/generations/{quote(name, safe='')}"))


def drop_old_generations() -> Operation[dict[str, Any]]:
    return (yield from _data("queries", "POST", "/v1/admin/generations/drop-old"))


def retire_embedding_generation(generation_id: str) -> Operation[dict[str, Any]]:
    path = f"/v1/admin/embedding-generations/{quote(generation_id, safe='')}"
    return (yield from _data("queries", "DELETE", path))


def query_log(*, tenant: str | None = None, limit: int = 50) -> Operation[dict[str, Any]]:
    """Who asked what and which documents came back, newest first (admin; other tenants: operator)."""
    return (yield from _data("queries", "GET", "/v1/admin/query-log", tenant=tenant, limit=limit))


def node_status() -> Operation[dict[str, Any]]:
    """The query node's live generation, documents and chunks (operator)."""
    return (yield from _data("queries", "GET", "/v1/admin/status"))


def ready(api: Api = "queries") -> Operation[bool]:
    """Whether the API's dependencies answer (`/ready`, no credentials needed)."""
    try:
        yield Call(api, "GET", "/ready", retry=False)
    except Unavailable:
        return False
    return True


def metrics(api: Api = "queries") -> Operation[str]:
    """The API's Prometheus exposition text (`/metrics`, no credentials needed)."""
    response = yield Call(api, "GET", "/metrics")
    return response.text
