"""Structure-aware chunking of extracted text into overlapping, citation-safe spans.

Every chunk is a slice of `ExtractedText.text` (`text[start:end] == chunk.text`), because citations
point back into the document by offset. Chunks follow the document's sections: whole blocks are
packed up to the token budget, an oversized block is split by sentence (by line for code), an
oversized sentence by word, and a section boundary is crossed only to merge tiny sections.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from pydantic import Field

from ragstream.settings import ChunkingProfile
from ragstream.streams.chunking.document import Block, ExtractedText
from ragstream.streams.chunking.extraction import extract_text
from ragstream.streams.chunking.tokens import (
    TokenCounter,
    line_spans,
    sentence_spans,
    sentence_starts,
    token_counter,
    word_pieces,
)

HEADING_SEPARATOR = " > "


class ChunkingConfig(ChunkingProfile):
    """The chunker's budget (see ChunkingProfile); used alone, without settings, it is a little larger."""

    max_tokens: int = Field(default=256, ge=1)
    overlap_tokens: int = Field(default=32, ge=0)
    # What the budget counts: "" the regex estimate, else the path of the embedding model's
    # tokenizer.json (its own tokens).
    tokenizer: str = ""


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    number: int
    text: str
    start: int
    end: int
    # Heading path of the chunk, e.g. "Install > Linux"; empty before the first heading.
    heading: str


@dataclass(frozen=True, slots=True)
class _Unit:
    """A span the packer never cuts: a block, sentence, line or word run within the budget."""

    start: int
    end: int
    tokens: int
    section: int


@dataclass
class _Section:
    path: tuple[str, ...]
    tokens: int = 0
    # Only a heading, no body: belongs with what follows it, never with what precedes it.
    heading_only: bool = True


@dataclass
class _OpenChunk:
    start: int
    end: int
    tokens: int
    sections: list[int]
    # Where the chunk's last section begins inside it: overlap must not reach into an earlier one.
    last_section_start: int
    all_tiny: bool


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _block_units(
    text: str, block: Block, section: int, max_tokens: int, counter: TokenCounter
) -> list[_Unit]:
    start, end = _strip_span(text, block.start, block.end)
    if start == end:
        return []
    tokens = len(counter.spans(text, start, end))
    if tokens <= max_tokens:
        return [_Unit(start, end, tokens, section)]
    units: list[_Unit] = []
    split = line_spans if block.kind == "code" else sentence_spans
    for part_start, part_end in split(text, start, end):
        part_tokens = len(counter.spans(text, part_start, part_end))
        if part_tokens <= max_tokens:
            units.append(_Unit(part_start, part_end, part_tokens, section))
        else:
            pieces = word_pieces(text, part_start, part_end, max_tokens, counter)
            units.extend(_Unit(a, b, n, section) for a, b, n in pieces)
    return units


def _units_and_sections(
    extracted: ExtractedText, max_tokens: int, counter: TokenCounter
) -> tuple[list[_Unit], list[_Section]]:
    units: list[_Unit] = []
    sections: list[_Section] = []
    headings: list[tuple[int, str]] = []
    for block in extracted.blocks:
        if block.kind == "heading":
            while headings and headings[-1][0] >= block.level:
                headings.pop()
            headings.append((block.level, " ".join(block.text.split())))
            sections.append(_Section(tuple(title for _, title in headings)))
        elif not sections:
            sections.append(_Section(()))
        section = sections[-1]
        block_units = _block_units(extracted.text, block, len(sections) - 1, max_tokens, counter)
        if block.kind != "heading" and block_units:
            section.heading_only = False
        section.tokens += sum(unit.tokens for unit in block_units)
        units.extend(block_units)
    return units, sections


def _heading(paths: list[tuple[str, ...]]) -> str:
    deepest = max(paths, key=len)
    # A chunk holding a parent heading and its child's text is about the child; unrelated merged
    # sections only share their common ancestors.
    if all(deepest[: len(path)] == path for path in paths):
        return HEADING_SEPARATOR.join(deepest)
    common: list[str] = []
    for titles in zip(*paths, strict=False):
        if any(title != titles[0] for title in titles):
            break
        common.append(titles[0])
    return HEADING_SEPARATOR.join(common)


def _overlap_start(
    text: str, low: int, high: int, budget: int, counter: TokenCounter
) -> tuple[int, int] | None:
    """Where the repeated tail of text[low:high] should begin, and its token count.

    Takes as many whole words as fit in `budget`, then moves forward to a sentence start if that
    keeps at least half of the budget, so the next chunk opens on a full sentence when it can.
    """
    if budget <= 0:
        return None
    tokens = counter.spans(text, low, high)
    first = max(0, len(tokens) - budget)
    while 0 < first < len(tokens) and tokens[first][0] == tokens[first - 1][1]:
        first += 1
    if first >= len(tokens):
        return None
    starts = [token[0] for token in tokens]
    # Scanning from `low` also finds a sentence that begins exactly at the word boundary chosen.
    for sentence_start in sentence_starts(text, low, high):
        if sentence_start < starts[first]:
            continue
        index = bisect.bisect_left(starts, sentence_start)
        if len(tokens) - index >= max(1, budget // 2):
            first = index
        break
    return starts[first], len(tokens) - first


class _Packer:
    def __init__(self, text: str, sections: list[_Section], config: ChunkingConfig) -> None:
        self.text = text
        self.sections = sections
        self.config = config
        self.chunks: list[ChunkSpan] = []
        self.open: _OpenChunk | None = None
        self.counter = token_counter(config.tokenizer)

    def _is_tiny(self, section: int) -> bool:
        return self.sections[section].tokens < self.config.min_tokens

    def _gap(self, chunk: _OpenChunk, unit: _Unit) -> int:
        """Tokens between the chunk and the unit (a heading's underline, say): in no unit, but in the
        chunk's text, so the encoder sees them."""
        return len(self.counter.spans(self.text, chunk.end, unit.start)) if unit.start > chunk.end else 0

    def _accepts(self, chunk: _OpenChunk, unit: _Unit) -> bool:
        if chunk.tokens + self._gap(chunk, unit) + unit.tokens > self.config.max_tokens:
            return False
        if unit.section == chunk.sections[-1]:
            return True
        section = self.sections[unit.section]
        if self._is_tiny(unit.section):
            # A tiny section is merged only whole, so it is never split across chunks; a bare
            # heading belongs with what follows it, so it only joins a chunk of other tiny sections.
            fits_whole = chunk.tokens + section.tokens <= self.config.max_tokens
            return fits_whole and (chunk.all_tiny or not section.heading_only)
        # Tiny sections lead into a substantial one (a title before its first subsection).
        return chunk.all_tiny

    def add(self, unit: _Unit) -> None:
        chunk = self.open
        if chunk is not None and self._accepts(chunk, unit):
            if unit.section != chunk.sections[-1]:
                chunk.sections.append(unit.section)
                chunk.last_section_start = unit.start
                chunk.all_tiny = chunk.all_tiny and self._is_tiny(unit.section)
            chunk.tokens += self._gap(chunk, unit) + unit.tokens
            chunk.end = unit.end
            return
        start, tokens = unit.start, 0
        if chunk is not None:
            self.close()
            if unit.section == chunk.sections[-1]:
                budget = min(self.config.overlap_tokens, self.config.max_tokens - unit.tokens)
                overlap = _overlap_start(self.text, chunk.last_section_start, chunk.end, budget, self.counter)
                if overlap is not None:
                    start, tokens = overlap
        self.open = _OpenChunk(
            start=start,
            end=unit.end,
            tokens=tokens + unit.tokens,
            sections=[unit.section],
            last_section_start=start,
            all_tiny=self._is_tiny(unit.section),
        )

    def close(self) -> None:
        chunk = self.open
        if chunk is None:
            return
        self.open = None
        heading = _heading([self.sections[index].path for index in chunk.sections])
        text = self.text[chunk.start : chunk.end]
        self.chunks.append(ChunkSpan(len(self.chunks), text, chunk.start, chunk.end, heading))


def chunk_text(extracted: ExtractedText, config: ChunkingConfig | None = None) -> list[ChunkSpan]:
    """Chunk extracted text; deterministic, and empty text gives no chunks."""
    if config is None:
        config = ChunkingConfig()
    units, sections = _units_and_sections(extracted, config.max_tokens, token_counter(config.tokenizer))
    packer = _Packer(extracted.text, sections, config)
    for unit in units:
        packer.add(unit)
    packer.close()
    return packer.chunks


def chunk_document(
    content: str, content_type: str, config: ChunkingConfig | None = None
) -> tuple[ExtractedText, list[ChunkSpan]]:
    """Extract and chunk in one call; raises UnsupportedContentType like `extract_text`."""
    extracted = extract_text(content, content_type)
    return extracted, chunk_text(extracted, config)
