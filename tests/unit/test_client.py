"""The SDK's pure parts: answers to typed errors, the retry policy, batching, streamed events, tokens,
and an operation handling a 504 thrown into it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ragstream.client import (
    NO_RETRIES,
    ApiError,
    BadRequest,
    Forbidden,
    InternalError,
    InvalidRequest,
    NotCaughtUp,
    NotFound,
    QuotaExceeded,
    RateLimited,
    RetryPolicy,
    Unavailable,
)
from ragstream.client import operations as ops
from ragstream.client.errors import error_from_response
from ragstream.commands.api.schemas import DocumentIn
from ragstream.contracts import WritePosition, consistency_token
from ragstream.http.sse import SseDecoder, encode_event
from ragstream.queries.api.schemas import AnswerCitations, AnswerDelta

pytestmark = pytest.mark.unit
TYPE = "https://ragstream.dev/problems/"


def problem(kind: str, status: int, **extra: Any) -> httpx.Response:
    body = {"type": TYPE + kind, "title": kind, "status": status, "detail": f"{kind} happened", **extra}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@pytest.mark.parametrize(
    ("kind", "status", "cls"),
    [("bad-request", 400, BadRequest), ("forbidden", 403, Forbidden), ("not-found", 404, NotFound),
     ("validation", 422, InvalidRequest), ("rate-limited", 429, RateLimited),
     ("quota-exceeded", 429, QuotaExceeded), ("unavailable", 503, Unavailable),
     ("not-caught-up", 504, NotCaughtUp), ("internal", 500, InternalError)],
)  # fmt: skip
def test_each_problem_kind_is_its_own_exception(kind: str, status: int, cls: type[ApiError]) -> None:
    error = error_from_response(problem(kind, status))
    assert type(error) is cls
    assert (error.type, error.status, error.detail) == (TYPE + kind, status, f"{kind} happened")
    assert error.kind == kind


def test_extension_members_and_retry_after_are_kept() -> None:
    invalid = error_from_response(problem("validation", 422, errors=[{"loc": ["body", "limit"], "msg": "x"}]))
    assert isinstance(invalid, InvalidRequest) and invalid.errors[0]["loc"] == ["body", "limit"]
    behind = error_from_response(problem("not-caught-up", 504, behind={"0": {"applied": 3, "needed": 9}}))
    assert isinstance(behind, NotCaughtUp) and behind.behind == {"0": {"applied": 3, "needed": 9}}
    limited = error_from_response(problem("rate-limited", 429, retry_after_s=3))
    assert limited.retry_after_s == 3


def test_an_answer_that_is_not_a_problem_still_gets_the_error_of_its_status() -> None:
    proxy = httpx.Response(503, text="<html>upstream gone</html>", headers={"Retry-After": "7"})
    error = error_from_response(proxy)
    assert isinstance(error, Unavailable) and error.retry_after_s == 7.0
    assert "upstream gone" in error.detail
    assert isinstance(error_from_response(httpx.Response(502, text="bad gateway")), InternalError)
    assert isinstance(error_from_response(httpx.Response(418, text="teapot")), BadRequest)


def test_retries_honour_retry_after_and_back_off_otherwise() -> None:
    policy = RetryPolicy(attempts=4, backoff_s=0.5, max_backoff_s=2.0, max_wait_s=60)
    assert policy.delay(error_from_response(problem("rate-limited", 429, retry_after_s=3)), 0) == 3
    waits = [policy.delay(error_from_response(problem("unavailable", 503)), a) for a in range(3)]
    assert all(w is not None for w in waits)
    assert 0.25 <= waits[0] <= 0.5 and 1.0 <= waits[2] <= 2.0  # type: ignore[operator]
    assert policy.delay(error_from_response(problem("unavailable", 503)), 3) is None  # attempts spent


def test_what_is_not_worth_waiting_for_is_raised_at_once() -> None:
    policy = RetryPolicy(max_wait_s=60)
    quota = error_from_response(problem("quota-exceeded", 429, retry_after_s=40_000))  # until midnight
    assert policy.delay(quota, 0) is None
    for kind, status in [("forbidden", 403), ("not-found", 404), ("internal", 500), ("not-caught-up", 504)]:
        assert policy.delay(error_from_response(problem(kind, status)), 0) is None, kind
    assert NO_RETRIES.delay(error_from_response(problem("rate-limited", 429, retry_after_s=1)), 0) is None


def test_batches_respect_the_document_count_and_size() -> None:
    docs = [DocumentIn(document_id=f"d{i}", content="x" * 1000) for i in range(10)]
    assert [len(b) for b in ops.batches(docs, size=4)] == [4, 4, 2]
    assert [len(b) for b in ops.batches(docs, size=100, max_bytes=3500)] == [3, 3, 3, 1]
    big = [DocumentIn(document_id="big", content="y" * 10_000)]
    assert [len(b) for b in ops.batches(big, max_bytes=100)] == [1]  # one document is never split


def test_one_token_for_many_writes_holds_the_highest_offset_per_partition() -> None:
    positions = [WritePosition(topic="c", partition=p, offset=o) for p, o in [(2, 5), (0, 7), (2, 9), (0, 1)]]
    assert consistency_token(positions) == "0:7,2:9"
    assert ops.Written().consistency_token == ""


def test_streamed_answer_events_decode_to_the_api_models() -> None:
    stream = (
        encode_event("delta", AnswerDelta(text="Lava cools").model_dump_json())
        + encode_event("delta", AnswerDelta(text=" into basalt [1].").model_dump_json())
        + encode_event("citations", '{"grounded": true, "citations": []}')
        + b": keep-alive\n\n"
        + encode_event("done", "{}")
    ).decode()
    decoder = SseDecoder()
    events = [e for line in stream.split("\n") if (e := decoder.feed(line)) is not None]
    parsed = [ops.answer_event(e) for e in events]
    assert parsed == [
        AnswerDelta(text="Lava cools"),
        AnswerDelta(text=" into basalt [1]."),
        AnswerCitations(grounded=True, citations=[]),
        None,  # done
    ]


def test_multi_line_data_survives_encoding() -> None:
    decoder = SseDecoder()
    lines = encode_event("delta", "one\ntwo").decode().split("\n")
    assert next(e for line in lines if (e := decoder.feed(line))).data == "one\ntwo"


def test_wait_searchable_asks_again_after_504_until_its_deadline() -> None:
    op = ops.wait_searchable("0:5", timeout_s=60)
    call = next(op)
    assert (call.api, call.method, call.path) == ("queries", "POST", "/v1/search")
    assert call.json["consistency_token"] == "0:5" and call.json["mode"] == "bm25"
    again = op.throw(error_from_response(problem("not-caught-up", 504)))
    assert again == call
    with pytest.raises(StopIteration):
        op.send(httpx.Response(200, json={"hits": [], "timings_ms": {}}))

    expired = ops.wait_searchable("0:5", timeout_s=0)
    next(expired)
    with pytest.raises(NotCaughtUp):
        expired.throw(error_from_response(problem("not-caught-up", 504)))


def test_nothing_written_means_nothing_to_wait_for() -> None:
    with pytest.raises(StopIteration):
        next(ops.wait_searchable(""))


def test_document_ids_are_quoted_in_paths_but_keep_their_slashes() -> None:
    call = next(ops.get_document("guide/intro?#1.md"))
    assert call.path == "/v1/documents/guide/intro%3F%231.md"
    assert next(ops.history("faq/1")).path == "/v1/documents/faq/1/history"
