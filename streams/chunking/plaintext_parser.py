"""Plain text: paragraphs are separated by blank lines; a few title shapes become headings."""

from __future__ import annotations

import re
import textwrap

from ragstream.streams.chunking.document import RawBlock

_BLANK_LINE_RE = re.compile(r"\n[^\S\n]*\n(?:[^\S\n]*\n)*")
_UNDERLINE_RE = re.compile(r"(=+|-+)")
# Titles are short; anything longer in capitals is more likely shouting than a heading.
_MAX_TITLE_CHARS = 80
_MAX_TITLE_WORDS = 10


def _paragraph_text(paragraph: str) -> str:
    lines = [line.rstrip() for line in textwrap.dedent(paragraph).split("\n")]
    return "\n".join(lines).strip()


def _underlined_heading(paragraph: str) -> RawBlock | None:
    lines = paragraph.split("\n")
    if len(lines) != 2:
        return None
    title, underline = lines[0].strip(), lines[1].strip()
    if not title or len(underline) < 3 or not _UNDERLINE_RE.fullmatch(underline):
        return None
    return RawBlock("heading", title, level=1 if underline[0] == "=" else 2)


def _is_caps_title(paragraph: str) -> bool:
    if "\n" in paragraph or len(paragraph) > _MAX_TITLE_CHARS:
        return False
    if len(paragraph.split()) > _MAX_TITLE_WORDS or paragraph.endswith((".", ",", ";")):
        return False
    return any(char.isalpha() for char in paragraph) and paragraph == paragraph.upper()


def parse_plaintext(content: str) -> list[RawBlock]:
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [_paragraph_text(part) for part in _BLANK_LINE_RE.split(content)]
    paragraphs = [paragraph for paragraph in paragraphs if paragraph]
    blocks: list[RawBlock] = []
    for index, paragraph in enumerate(paragraphs):
        underlined = _underlined_heading(paragraph)
        if underlined is not None:
            blocks.append(underlined)
        # A capitalised last line has nothing under it to be the title of.
        elif index + 1 < len(paragraphs) and _is_caps_title(paragraph):
            blocks.append(RawBlock("heading", paragraph, level=1))
        else:
            blocks.append(RawBlock("paragraph", paragraph))
    return blocks
