"""Errors raised by the search read models."""

from __future__ import annotations

from ragstream.exceptions import RagstreamError


class ReadModelError(RagstreamError):
    """Base class for every read-model failure."""


class IndexUnavailableError(ReadModelError):
    """The index storage cannot be opened or created (missing, locked, incompatible)."""


class IndexLockedError(IndexUnavailableError):
    """Another writer, in this process or another one, holds the index."""


class ReadOnlyIndexError(ReadModelError):
    """A write was attempted through an instance opened for searching only."""


class IndexClosedError(ReadModelError):
    """The index was used after `close()`."""


class DimensionMismatchError(ReadModelError, ValueError):
    """A vector, or an existing vector index, does not have the configured dimension."""
