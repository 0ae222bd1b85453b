"""Errors raised by text extraction and chunking."""

from __future__ import annotations

from collections.abc import Iterable

from ragstream.exceptions import RagstreamError


class ChunkingError(RagstreamError):
    """Base class for extraction and chunking failures."""


class UnsupportedContentType(ChunkingError):
    """The document's content type has no extractor.

    Raised instead of guessing: indexing HTML as plain text would put markup into citations.
    """

    def __init__(self, content_type: str, supported: Iterable[str]) -> None:
        self.content_type = content_type
        self.supported = tuple(sorted(supported))
        super().__init__(f"unsupported content type {content_type!r}; supported: {', '.join(self.supported)}")
