"""Text extraction and structure-aware chunking of documents (pure logic, no I/O)."""

from ragstream.streams.chunking.chunker import ChunkingConfig, ChunkSpan, chunk_document, chunk_text
from ragstream.streams.chunking.document import Block, BlockKind, ExtractedText
from ragstream.streams.chunking.exceptions import ChunkingError, UnsupportedContentType
from ragstream.streams.chunking.extraction import (
    SUPPORTED_CONTENT_TYPES,
    canonical_content_type,
    extract_text,
)
from ragstream.streams.chunking.tokens import count_tokens

__all__ = [
    "SUPPORTED_CONTENT_TYPES",
    "Block",
    "BlockKind",
    "ChunkSpan",
    "ChunkingConfig",
    "ChunkingError",
    "ExtractedText",
    "UnsupportedContentType",
    "canonical_content_type",
    "chunk_document",
    "chunk_text",
    "count_tokens",
    "extract_text",
]
