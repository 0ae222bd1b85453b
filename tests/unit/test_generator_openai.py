"""OpenAICompatibleGenerator against a real HTTP server on 127.0.0.1 serving canned completions:
prompts (templates included), retries, and the resilient wrapper's deadline, breaker and fallback."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError

from ragstream.queries.answers.base import NOT_FOUND_TEXT, Generator, Passage
from ragstream.queries.answers.breaker import BreakerState, CircuitBreaker
from ragstream.queries.answers.citations import answer_from_text
from ragstream.queries.answers.exceptions import GeneratorUnavailable, InvalidGeneratorArgument
from ragstream.queries.answers.extractive import ExtractiveGenerator
from ragstream.queries.answers.openai_compatible import SYSTEM_PROMPT, OpenAICompatibleGenerator
from ragstream.queries.answers.resilient import Fallback, ResilientGenerator, make_generator
from ragstream.queries.answers.templates import PromptTemplate, validate_template
from ragstream.queries.api.app import ERRORS
from ragstream.settings import GeneratorSettings

pytestmark = pytest.mark.unit

DOC = (
    "Retry policy. Failed embedding requests are retried three times with exponential backoff. "
    "After the last attempt the event is parked on a dead-letter topic."
)
PASSAGES = [
    Passage(1, "ops", "ops#v2#c0", "Operations", DOC[14:], 14, len(DOC)),
    Passage(2, "ui", "ui#v1#c0", "Console", "The web console uses a dark theme.", 0, 34),
]
QUESTION = "How often are failed embedding requests retried?"


@dataclass
class FakeLLM:
    """Canned OpenAI-style endpoint; `failures` are statuses answered before the canned reply."""

    base_url: str = ""
    content: str = "Failed requests are retried three times [1]."
    pieces: list[str] = field(
        default_factory=lambda: ["Failed requests ", "are retried three", " times [1]."]
    )
    failures: list[int] = field(default_factory=list)
    extra_events: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"body": body, "headers": dict(request.headers)})
        await asyncio.sleep(self.delay_s)
        if self.failures:
            status = self.failures.pop(0)
            return web.json_response({"error": {"message": "overloaded"}}, status=status)
        if not body.get("stream"):
            message = {"role": "assistant", "content": self.content}
            return web.json_response({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": keep-alive\n\n")
        for piece in self.pieces:
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        for event in self.extra_events:
            await response.write(f"data: {event}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    fake = FakeLLM()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}/v1/"
    yield fake
    await runner.cleanup()


def generator(base_url: str, **kwargs: Any) -> OpenAICompatibleGenerator:
    settings: dict[str, Any] = {"api_key": SecretStr("sk-test"), "timeout_s": 5.0, "retry_wait_s": 0.01}
    return OpenAICompatibleGenerator(base_url, "tiny-model", **(settings | kwargs))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_generate_non_streaming(llm: FakeLLM) -> None:
    answer = await generator(llm.base_url).generate(QUESTION, PASSAGES)

    assert answer.text == "Failed requests are retried three times [1]."
    assert answer.grounded
    [citation] = answer.citations
    assert (citation.marker, citation.document_id, citation.chunk_id) == (1, "ops", "ops#v2#c0")
    assert citation.quote == "Failed embedding requests are retried three times with exponential backoff."
    assert DOC[citation.start : citation.end] == citation.quote

    [request] = llm.requests
    body = request["body"]
    assert (body["model"], body["stream"], body["temperature"]) == ("tiny-model", False, 0.0)
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert NOT_FOUND_TEXT in SYSTEM_PROMPT
    assert "[1] Operations\nFailed embedding" in user["content"]
    assert "[2] Console\nThe web console" in user["content"]
    assert user["content"].endswith(f"Question: {QUESTION}")


async def test_stream_yields_content_deltas(llm: FakeLLM) -> None:
    # Keep-alive comments and a usage-only chunk without choices must not disturb the text.
    llm.extra_events = [json.dumps({"choices": [], "usage": {"total_tokens": 42}})]
    pieces = [p async for p in generator(llm.base_url).stream(QUESTION, PASSAGES)]

    assert pieces == llm.pieces
    assert llm.requests[0]["body"]["stream"] is True
    answer = answer_from_text("".join(pieces), PASSAGES)
    assert answer.grounded
    assert [c.marker for c in answer.citations] == [1]


async def test_invalid_markers_are_dropped(llm: FakeLLM) -> None:
    llm.content = "Requests are retried three times [1][4]. The console is dark [2]. Mars is red [3]."
    answer = await generator(llm.base_url).generate(QUESTION, PASSAGES)

    assert answer.text == "Requests are retried three times [1]. The console is dark [2]. Mars is red."
    assert [c.marker for c in answer.citations] == [1, 2]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == {c.marker for c in answer.citations}
    assert answer.citations[1].quote == "The web console uses a dark theme."


async def test_no_valid_marker_is_ungrounded(llm: FakeLLM) -> None:
    llm.content = "Probably five times [9]."
    answer = await generator(llm.base_url).generate(QUESTION, PASSAGES)
    assert (answer.text, answer.citations, answer.grounded) == ("Probably five times.", [], False)


async def test_refusal_is_ungrounded(llm: FakeLLM) -> None:
    llm.content = NOT_FOUND_TEXT
    answer = await generator(llm.base_url).generate(QUESTION, PASSAGES)
    assert (answer.text, answer.grounded) == (NOT_FOUND_TEXT, False)


async def test_500_then_success_is_retried(llm: FakeLLM) -> None:
    llm.failures = [500]
    answer = await generator(llm.base_url).generate(QUESTION, PASSAGES)
    assert answer.grounded
    assert len(llm.requests) == 2


async def test_stream_retries_before_the_first_delta(llm: FakeLLM) -> None:
    llm.failures = [503, 502]
    pieces = [p async for p in generator(llm.base_url).stream(QUESTION, PASSAGES)]
    assert "".join(pieces) == "Failed requests are retried three times [1]."
    assert len(llm.requests) == 3


async def test_persistent_5xx_gives_up_after_bounded_attempts(llm: FakeLLM) -> None:
    llm.failures = [500] * 10
    with pytest.raises(GeneratorUnavailable, match="HTTP 500"):
        await generator(llm.base_url, max_attempts=3).generate(QUESTION, PASSAGES)
    assert len(llm.requests) == 3


async def test_client_errors_are_not_retried(llm: FakeLLM) -> None:
    llm.failures = [400, 400]
    with pytest.raises(GeneratorUnavailable, match="HTTP 400"):
        await generator(llm.base_url).generate(QUESTION, PASSAGES)
    assert len(llm.requests) == 1


async def test_stream_error_event_raises(llm: FakeLLM) -> None:
    llm.extra_events = [json.dumps({"error": {"message": "model crashed"}})]
    with pytest.raises(GeneratorUnavailable, match="model crashed"):
        _ = [p async for p in generator(llm.base_url).stream(QUESTION, PASSAGES)]


async def test_unreachable_server_is_unavailable() -> None:
    gen = generator(f"http://127.0.0.1:{closed_port()}/v1", max_attempts=2)
    with pytest.raises(GeneratorUnavailable):
        await gen.generate(QUESTION, PASSAGES)
    with pytest.raises(GeneratorUnavailable):
        _ = [p async for p in gen.stream(QUESTION, PASSAGES)]


async def test_no_passages_answers_not_found_without_calling_the_server() -> None:
    gen = generator(f"http://127.0.0.1:{closed_port()}/v1")
    answer = await gen.generate(QUESTION, [])
    assert (answer.text, answer.citations, answer.grounded) == (NOT_FOUND_TEXT, [], False)
    assert [p async for p in gen.stream(QUESTION, [])] == [NOT_FOUND_TEXT]


async def test_shared_client_is_used_and_left_open(llm: FakeLLM) -> None:
    async with httpx.AsyncClient() as client:
        gen = generator(llm.base_url, client=client, api_key=None)
        assert (await gen.generate(QUESTION, PASSAGES)).grounded
        assert not client.is_closed
    assert "Authorization" not in llm.requests[0]["headers"]


def test_is_a_generator() -> None:
    assert isinstance(generator("http://127.0.0.1:1"), Generator)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "localhost:8000"},
        {"model": ""},
        {"timeout_s": 0.0},
        {"max_attempts": 0},
        {"temperature": 3.0},
    ],
)
def test_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"base_url": "http://127.0.0.1:1", "model": "m"} | kwargs
    with pytest.raises(InvalidGeneratorArgument):
        OpenAICompatibleGenerator(**settings)


async def test_an_outage_is_logged_for_the_operator_and_never_echoed_to_the_caller(
    llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    llm.failures = [500] * 10
    with pytest.raises(GeneratorUnavailable) as caught:
        await generator(llm.base_url, max_attempts=1).generate(QUESTION, PASSAGES)
    response = ERRORS[GeneratorUnavailable](caught.value)
    body = json.loads(response.body)
    assert (response.status_code, body["type"]) == (503, "https://ragstream.dev/problems/unavailable")
    assert "127.0.0.1" not in response.body.decode() and "overloaded" not in response.body.decode()
    assert llm.base_url.rstrip("/") in caplog.text  # the operator's log has it


async def test_a_tenants_template_is_what_the_model_is_given(llm: FakeLLM) -> None:
    template = validate_template(
        PromptTemplate(
            system_prompt="Acme support. When unsure: {not_found}", passage_format="<{number}|{document_id}> {text}",
            answer_style="One sentence.", language="French", name="support", version=2,
        )
    )  # fmt: skip
    await generator(llm.base_url).generate(QUESTION, PASSAGES, template)
    _ = [p async for p in generator(llm.base_url).stream(QUESTION, PASSAGES, template)]
    for request in llm.requests:
        system, user = request["body"]["messages"]
        assert system["content"] == (
            f"Acme support. When unsure: {NOT_FOUND_TEXT}\n\nAnswer style: One sentence.\n\n"
            "Write the answer in this language: French"
        )
        assert "<1|ops> Failed embedding requests" in user["content"]
        assert "<2|ui> The web console" in user["content"] and "[1] Operations" not in user["content"]


# --- generation that degrades gracefully: deadline, breaker, extractive fallback -------------------


def resilient(
    base_url: str, *, failures: int = 2, timeout_s: float = 5.0
) -> tuple[ResilientGenerator, Clock]:
    clock = Clock()
    breaker = CircuitBreaker(failures, 30.0, clock=clock)
    primary = generator(base_url, max_attempts=1)
    gen = ResilientGenerator(primary, breaker=breaker, fallback=ExtractiveGenerator(), timeout_s=timeout_s)
    return gen, clock


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_an_llm_failure_falls_back_to_the_extractive_answer_marked_as_such(llm: FakeLLM) -> None:
    gen, _ = resilient(llm.base_url)
    llm.failures = [500]
    generated = await gen.generate(QUESTION, PASSAGES)
    assert generated.fallback is not None and (generated.fallback.generator, generated.fallback.reason) == (
        "extractive",
        "unavailable",
    )
    assert generated.answer == await ExtractiveGenerator().generate(QUESTION, PASSAGES)
    ok = await gen.generate(QUESTION, PASSAGES)
    assert ok.fallback is None and ok.answer.text == llm.content


async def test_the_breaker_opens_on_a_failing_endpoint_and_closes_when_it_recovers(llm: FakeLLM) -> None:
    gen, clock = resilient(llm.base_url, failures=2)
    llm.failures = [500] * 100
    for _ in range(2):
        assert (await gen.generate(QUESTION, PASSAGES)).fallback is not None
    asked = len(llm.requests)
    open_answer = await gen.generate(QUESTION, PASSAGES)
    assert open_answer.fallback is not None and open_answer.fallback.reason == "circuit-open"
    assert len(llm.requests) == asked  # open: the endpoint is not even asked
    streamed = [p async for p in gen.stream(QUESTION, PASSAGES)]
    assert streamed[0] == Fallback("extractive", "circuit-open") and len(llm.requests) == asked
    llm.failures = []  # the endpoint recovers
    clock.now += 30
    recovered = await gen.generate(QUESTION, PASSAGES)  # the half-open trial
    assert recovered.fallback is None and recovered.answer.text == llm.content
    assert gen.breaker is not None and gen.breaker.state is BreakerState.CLOSED


async def test_a_slow_endpoint_times_out_into_the_fallback(llm: FakeLLM) -> None:
    llm.delay_s = 2.0
    gen, _ = resilient(llm.base_url, timeout_s=0.3)
    generated = await gen.generate(QUESTION, PASSAGES)
    assert generated.fallback == Fallback("extractive", "timeout")
    streamed = [p async for p in gen.stream(QUESTION, PASSAGES)]
    assert streamed[0] == Fallback("extractive", "timeout") and "".join(streamed[1:])


async def test_a_stream_that_fails_mid_answer_raises_rather_than_mixing_two_answers(llm: FakeLLM) -> None:
    llm.extra_events = [json.dumps({"error": {"message": "model crashed"}})]
    gen, _ = resilient(llm.base_url)
    seen: list[object] = []
    with pytest.raises(GeneratorUnavailable):
        async for piece in gen.stream(QUESTION, PASSAGES):
            seen.append(piece)
    assert seen == llm.pieces  # no fallback text after the model's own


async def test_without_a_fallback_an_outage_is_still_a_503() -> None:
    primary = generator(f"http://127.0.0.1:{closed_port()}/v1", max_attempts=1)
    gen = ResilientGenerator(primary, breaker=CircuitBreaker(5, 30.0), fallback=None)
    with pytest.raises(GeneratorUnavailable):
        await gen.generate(QUESTION, PASSAGES)


def test_the_settings_pick_the_generator_and_refuse_what_they_cannot_run() -> None:
    assert not make_generator(GeneratorSettings()).uses_templates
    openai = make_generator(GeneratorSettings(kind="openai", model="m", base_url="http://127.0.0.1:1/v1"))
    assert openai.uses_templates and openai.breaker is not None
    with pytest.raises(ValidationError, match="kind"):
        GeneratorSettings(kind="llama")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"generator\.model is required"):
        GeneratorSettings(kind="openai")
