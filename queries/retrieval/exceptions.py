"""Errors raised by the query-side retrieval logic."""

from __future__ import annotations

from ragstream.exceptions import RagstreamError


class RetrievalError(RagstreamError):
    """Base class for retrieval failures."""


class InvalidFusionArgument(RetrievalError, ValueError):
    """A fusion or pagination parameter is out of range.

    Also a ValueError so that API layers that map ValueError to HTTP 400 handle it without knowing us.
    """
