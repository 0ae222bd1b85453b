"""Generation that degrades gracefully: a deadline and a circuit breaker on the language model, and
the extractive answer when it fails (the response says so: `fallback`).

A failure before the first word of an answer falls back; once a streamed answer has started, its
text is the client's and cannot be swapped, so a failure then ends the stream with an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter, Gauge

from ragstream.queries.answers.base import Answer, Generator, Passage
from ragstream.queries.answers.breaker import BreakerState, CircuitBreaker
from ragstream.queries.answers.exceptions import GeneratorUnavailable
from ragstream.queries.answers.extractive import ExtractiveGenerator
from ragstream.queries.answers.openai_compatible import OpenAICompatibleGenerator
from ragstream.queries.answers.templates import PromptTemplate
from ragstream.settings import GeneratorSettings

log = logging.getLogger("ragstream.queries.answers")
FALLBACKS = Counter(
    "ragstream_generator_fallbacks_total", "Answers written by the fallback generator", ["reason"]
)
BREAKER_OPEN = Gauge(
    "ragstream_generator_breaker_open", "1 while the language model's circuit breaker is open or half-open"
)
Reason = Literal["circuit-open", "unavailable", "timeout"]


@dataclass(frozen=True)
class Fallback:
    """The answer came from `generator` instead of the language model, because of `reason`."""

    generator: str
    reason: Reason


@dataclass(frozen=True)
class Generated:
    answer: Answer
    fallback: Fallback | None = None
    # name@version of the prompt template that wrote the answer (None: the built-in prompt, or a
    # generator that takes none).
    template: str | None = None


# A streamed answer: text deltas, preceded by a Fallback when the fallback writes it.
StreamItem = str | Fallback


class ResilientGenerator:
    """`primary` behind `breaker` and a `timeout_s` deadline, `fallback` (named `fallback_name`)
    when either gives up; without a breaker the primary is used as it is (the extractive one)."""

    def __init__(
        self,
        primary: Generator,
        *,
        breaker: CircuitBreaker | None = None,
        fallback: Generator | None = None,
        fallback_name: str = "extractive",
        timeout_s: float = 30.0,
    ) -> None:
        self.primary = primary
        self.breaker = breaker
        self._fallback = fallback
        self._fallback_name = fallback_name
        self._timeout_s = timeout_s
        # Only a language model has a prompt to shape; the extractive generator ignores templates.
        self.uses_templates = not isinstance(primary, ExtractiveGenerator)

    def template_label(self, template: PromptTemplate | None, fallback: Fallback | None) -> str | None:
        """What an answer records as its template: the one the language model was given, if any."""
        if template is None or fallback is not None or not self.uses_templates:
            return None
        return template.label or None

    async def generate(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> Generated:
        breaker = self.breaker
        if breaker is None:
            answer = await self.primary.generate(question, passages, template)
            return Generated(answer, template=self.template_label(template, None))
        if not breaker.allow():
            return await self._fall_back(question, passages, "circuit-open")
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await self.primary.generate(question, passages, template)
        except (GeneratorUnavailable, TimeoutError) as exc:
            breaker.failure()
            return await self._fall_back(question, passages, _reason(exc), exc)
        except BaseException:
            breaker.release()
            raise
        breaker.success()
        return Generated(answer, template=self.template_label(template, None))

    async def stream(
        self, question: str, passages: Sequence[Passage], template: PromptTemplate | None = None
    ) -> AsyncIterator[StreamItem]:
        breaker = self.breaker
        if breaker is None:
            async for delta in self.primary.stream(question, passages, template):
                yield delta
            return
        if not breaker.allow():
            async for item in self._stream_fallback(question, passages, "circuit-open"):
                yield item
            return
        deltas = aiter(self.primary.stream(question, passages, template))
        try:
            async with asyncio.timeout(self._timeout_s):
                first = await anext(deltas, None)
        except (GeneratorUnavailable, TimeoutError) as exc:
            breaker.failure()
            await _close(deltas)
            async for item in self._stream_fallback(question, passages, _reason(exc), exc):
                yield item
            return
        except BaseException:
            breaker.release()
            await _close(deltas)
            raise
        try:
            if first is not None:
                yield first
            async for delta in deltas:
                yield delta
        except GeneratorUnavailable:
            breaker.failure()
            raise
        except BaseException:
            breaker.release()
            raise
        finally:
            await _close(deltas)
        breaker.success()

    async def _fall_back(
        self, question: str, passages: Sequence[Passage], reason: Reason, cause: BaseException | None = None
    ) -> Generated:
        fallback = self._chosen_fallback(reason, cause)
        return Generated(await fallback.generate(question, passages), Fallback(self._fallback_name, reason))

    async def _stream_fallback(
        self, question: str, passages: Sequence[Passage], reason: Reason, cause: BaseException | None = None
    ) -> AsyncIterator[StreamItem]:
        fallback = self._chosen_fallback(reason, cause)
        yield Fallback(self._fallback_name, reason)
        async for delta in fallback.stream(question, passages):
            yield delta

    def _chosen_fallback(self, reason: Reason, cause: BaseException | None) -> Generator:
        # The endpoint's URL and error are for the operator's log, never for the caller.
        log.warning("answer generator %s: %s", reason, cause or "the circuit breaker is open")
        if self._fallback is None:
            raise GeneratorUnavailable(f"the language model is unavailable ({reason})") from cause
        FALLBACKS.labels(reason).inc()
        return self._fallback


def _reason(exc: BaseException) -> Reason:
    return "timeout" if isinstance(exc, TimeoutError) else "unavailable"


async def _close(deltas: AsyncIterator[str]) -> None:
    aclose = getattr(deltas, "aclose", None)
    if aclose is not None:
        await aclose()


def _breaker_gauge(state: BreakerState) -> None:
    BREAKER_OPEN.set(0 if state is BreakerState.CLOSED else 1)
    log.warning("the language model's circuit breaker is %s", state.value)


def make_generator(settings: GeneratorSettings) -> ResilientGenerator:
    """The generator the settings ask for (their validation refused unknown kinds at start-up)."""
    if settings.kind == "extractive":
        return ResilientGenerator(ExtractiveGenerator())
    api_key = settings.api_key if settings.api_key.get_secret_value() else None
    primary = OpenAICompatibleGenerator(
        settings.base_url, settings.model, api_key, timeout_s=settings.timeout_s
    )
    breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s, on_change=_breaker_gauge)
    fallback = ExtractiveGenerator() if settings.fallback == "extractive" else None
    return ResilientGenerator(primary, breaker=breaker, fallback=fallback, timeout_s=settings.timeout_s)
