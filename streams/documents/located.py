"""Chunking of a document made of located parts (PDF pages, slides, sheets): each part is chunked on
its own, so every chunk lies in exactly one part and its citation names it ("page 2").

Offsets stay exact: the parts' extracted texts are joined with a blank line into one text, and each
chunk's start/end index that text (`text[start:end] == chunk.text`), as for any other document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragstream.streams.chunking import ChunkingConfig, ChunkSpan, chunk_document

PART_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class LocatedSpan:
    span: ChunkSpan
    location: str


def chunk_located(
    content: str, content_type: str, locations: Sequence[Mapping[str, Any]], config: ChunkingConfig
) -> list[LocatedSpan]:
    """Chunks of `content` with their location; a document without locations has empty ones."""
    if not locations:
        return [LocatedSpan(span, "") for span in chunk_document(content, content_type, config)[1]]
    out: list[LocatedSpan] = []
    offset = 0
    for location in locations:
        extracted, spans = chunk_document(content[location["start"] : location["end"]], content_type, config)
        if not extracted.text:
            continue
        if out:
            offset += len(PART_SEPARATOR)
        for span in spans:
            shifted = ChunkSpan(len(out), span.text, span.start + offset, span.end + offset, span.heading)
            out.append(LocatedSpan(shifted, str(location["label"])))
        offset += len(extracted.text)
    return out
