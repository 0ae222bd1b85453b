"""Turn a document's raw content into clean text plus its block structure."""

from __future__ import annotations

from collections.abc import Callable

from ragstream.streams.chunking.document import Block, BlockKind, ExtractedText, RawBlock, assemble
from ragstream.streams.chunking.exceptions import UnsupportedContentType
from ragstream.streams.chunking.html_parser import parse_html
from ragstream.streams.chunking.markdown_parser import parse_markdown
from ragstream.streams.chunking.plaintext_parser import parse_plaintext

__all__ = ["SUPPORTED_CONTENT_TYPES", "Block", "BlockKind", "ExtractedText", "extract_text"]

_PARSERS: dict[str, Callable[[str], list[RawBlock]]] = {
    "text/plain": parse_plaintext,
    "text/markdown": parse_markdown,
    "text/html": parse_html,
}
_ALIASES = {
    "text": "text/plain",
    "plain": "text/plain",
    "txt": "text/plain",
    "markdown": "text/markdown",
    "md": "text/markdown",
    "text/x-markdown": "text/markdown",
    "html": "text/html",
    "htm": "text/html",
    "application/xhtml+xml": "text/html",
}
SUPPORTED_CONTENT_TYPES = frozenset(_PARSERS) | frozenset(_ALIASES)


def canonical_content_type(content_type: str) -> str:
    """Map a content type or alias to one of the canonical types, ignoring case and parameters."""
    # Producers send MIME headers verbatim, e.g. "text/html; charset=utf-8".
    name = content_type.split(";", 1)[0].strip().lower()
    name = _ALIASES.get(name, name)
    if name not in _PARSERS:
        raise UnsupportedContentType(content_type, SUPPORTED_CONTENT_TYPES)
    return name


def extract_text(content: str, content_type: str) -> ExtractedText:
    """Extract clean text and blocks; whitespace-only content gives empty text and no blocks.

    Raises UnsupportedContentType for anything but plain text, markdown and HTML.
    """
    parser = _PARSERS[canonical_content_type(content_type)]
    # NUL is valid in a Python string but PostgreSQL text columns reject it.
    return assemble(parser(content.replace("\x00", "")))
