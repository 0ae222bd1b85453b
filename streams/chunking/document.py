"""The extracted-text model shared by the extractors and the chunker."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["heading", "paragraph", "list", "code"]


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document; `text` is exactly `ExtractedText.text[start:end]`."""

    kind: BlockKind
    text: str
    start: int
    end: int
    # 1-6 for headings, 0 for every other kind.
    level: int = 0


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """Clean plain text of a document plus the blocks it is made of.

    Chunk and citation offsets index into `text`, so it is the only text anything downstream may
    slice.
    """

    text: str
    blocks: list[Block]

    def __post_init__(self) -> None:
        # Checked once here so the chunker can trust offsets instead of re-validating them.
        previous_end = 0
        for block in self.blocks:
            if not previous_end <= block.start <= block.end <= len(self.text):
                raise ValueError(f"block at {block.start}:{block.end} is out of order or out of range")
            if self.text[block.start : block.end] != block.text:
                raise ValueError(f"block at {block.start}:{block.end} does not match the text")
            previous_end = block.end


@dataclass(frozen=True, slots=True)
class RawBlock:
    """A block before it has a position; what each format's parser produces."""

    kind: BlockKind
    text: str
    level: int = 0
    # Consecutive blocks sharing a group (items of one list, rows of one table) are joined by a
    # single newline so the extracted text reads like the original layout. Groups are compared by
    # identity, so parsers can mint them with `object()` without coordinating counters.
    group: object | None = None


def clean_code(text: str) -> str:
    """Drop blank edge lines and trailing spaces, keeping the indentation that code depends on."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def assemble(raw_blocks: Iterable[RawBlock]) -> ExtractedText:
    """Lay blocks out one after another and record where each one landed."""
    parts: list[str] = []
    blocks: list[Block] = []
    position = 0
    previous_group: object | None = None
    for raw in raw_blocks:
        text = clean_code(raw.text) if raw.kind == "code" else raw.text.strip()
        if not text.strip():
            continue
        if blocks:
            separator = "\n" if raw.group is not None and raw.group is previous_group else "\n\n"
            parts.append(separator)
            position += len(separator)
        level = raw.level if raw.kind == "heading" else 0
        blocks.append(Block(raw.kind, text, position, position + len(text), level))
        parts.append(text)
        position += len(text)
        previous_group = raw.group
    return ExtractedText("".join(parts), blocks)
