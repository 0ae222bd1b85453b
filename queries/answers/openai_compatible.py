"""Answers from any server speaking the OpenAI chat-completions API (vLLM, Ollama, llama.cpp, OpenAI).

The model is told to cite numbered passages; whatever it writes is then checked by
`answer_from_text`, so a marker that points nowhere never reaches the user as a citation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ragstream.queries.answers.base import NOT_FOUND_TEXT, Answer, Passage, index_passages
from ragstream.queries.answers.citations import answer_from_text
from ragstream.queries.answers.exceptions import GeneratorUnavailable, InvalidGeneratorArgument
from ragstream.queries.answers.sse import iter_sse_data
from ragstream.queries.answers.templates import DEFAULT_TEMPLATE, PromptTemplate

# The built-in prompt (a tenant's template replaces it: ragstream.queries.answers.templates).
SYSTEM_PROMPT = DEFAULT_TEMPLATE.system_message()


class _BadStatus(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


def _is_retryable(exc: BaseException) -> bool:
    # Overload and server faults are usually transient; a 4xx means our request is wrong and stays wrong.
    if isinstance(exc, _BadStatus):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, httpx.TransportError)


def _field(data: Any, *path: str | int) -> Any:
    """data[path[0]][path[1]]..., or GeneratorUnavailable when the server's JSON has another shape."""
    try:
        for key in path:
            data = data[key]
    except (KeyError, IndexError, TypeError) as exc:
        raise GeneratorUnavailable(f"unexpected completion response shape: {str(data)[:200]}") from exc
    return data


class OpenAICompatibleGenerator:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | None = None,
        timeout_s: float = 60.0,
        temperature: float = 0.0,
        *,
        max_attempts: int = 3,
        retry_wait_s: float = 0.25,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidGeneratorArgument(f"base_url must be an http(s) URL, got {base_url!r}")
        if not model:
            raise InvalidGeneratorArgument("model must not be empty")
        if timeout_s <= 0 or max_attempts < 1 or retry_wait_s < 0 or not 0.0 <= temperature <= 2.0:
            raise InvalidGeneratorArgument(
                "need timeout_s > 0, max_attempts >= 1, retry_wait_s >= 0 and 0 <= temperature <= 2"
            )
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.temperature = temperature
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._retry_wait_s = retry_wait_s
        # An injected client is shared and owned by the caller; otherwise each call opens its own, which
        # keeps the generator free of event-loop affinity at the cost of a connection per answer.
        self._shared_client = client

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._shared_client is not None:
            yield self._shared_client
        else:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                yield client

    def _request(
        self,
        client: httpx.AsyncClient,
        question: str,
        passages: Sequence[Passage],
        stream: bool,
        template: PromptTemplate | None,
    ) -> httpx.Request:
        prompt = template or DEFAULT_TEMPLATE
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        payload = {
            "model": self.model,
            "temperature": self.temperature,
            "stream": stream,
            "messages": [
                {"role": "system", "content": prompt.system_message()},
                {"role": "user", "content": prompt.user_message(question, passages)},
            ],
        }
        return client.build_request("POST", self.url, json=payload, headers=headers, timeout=self._timeout_s)

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request, stream: bool) -> httpx.Response:
        """Send with bounded retries; only the request is retried, never a stream already being read."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential(multiplier=self._retry_wait_s, max=2.0),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                response = await client.send(request, stream=stream)
                if response.status_code >= 400:
                    body = (await response.aread()).decode(errors="replace")
                    await response.aclose()
                    raise _BadStatus(response.status_code, body)
                return response
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def generate(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> Answer:
        index_passages(passages)
        if not passages:
            return Answer.not_found()
        try:
            async with self._client() as client:
                response = await self._send(
                    client, self._request(client, question, passages, False, template), False
                )
                data = response.json()
        except (httpx.HTTPError, _BadStatus) as exc:
            raise GeneratorUnavailable(f"completion request to {self.url} failed: {exc}") from exc
        except ValueError as exc:
            raise GeneratorUnavailable(f"completion response from {self.url} is not JSON") from exc
        content = _field(data, "choices", 0, "message", "content")
        return answer_from_text(content if isinstance(content, str) else "", passages)

    async def stream(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> AsyncIterator[str]:
        index_passages(passages)
        if not passages:
            yield NOT_FOUND_TEXT
            return
        try:
            async with self._client() as client:
                request = self._request(client, question, passages, True, template)
                response = await self._send(client, request, True)
                try:
                    async for data in iter_sse_data(response.aiter_lines()):
                        if data.strip() == "[DONE]":
                            break
                        delta = _delta(data)
                        if delta:
                            yield delta
                finally:
                    await response.aclose()
        except (httpx.HTTPError, _BadStatus) as exc:
            raise GeneratorUnavailable(f"streaming completion from {self.url} failed: {exc}") from exc


def _delta(data: str) -> str:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise GeneratorUnavailable(f"malformed stream event: {data[:200]}") from exc
    if isinstance(event, dict) and "error" in event:
        raise GeneratorUnavailable(f"server reported an error mid-stream: {str(event['error'])[:200]}")
    choices = _field(event, "choices")
    # Some servers send a final usage-only chunk with no choices.
    if not choices:
        return ""
    delta = _field(choices, 0, "delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""
