"""Errors raised while generating grounded answers."""

from __future__ import annotations

from ragstream.exceptions import RagstreamError


class AnswerError(RagstreamError):
    """Base class for answer-generation failures."""


class InvalidGeneratorArgument(AnswerError, ValueError):
    """A generator setting or the passages handed to it are malformed (a caller bug, not an outage)."""


class GeneratorUnavailable(AnswerError):
    """The generation backend could not be reached or answered with an error after retries."""
