"""Markdown: walk markdown-it tokens, keeping block structure and dropping inline markup."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ragstream.streams.chunking.document import RawBlock, collapse_whitespace
from ragstream.streams.chunking.html_parser import parse_html
from ragstream.streams.chunking.plaintext_parser import parse_plaintext

_TABLE_CELL_SEPARATOR = " | "


@functools.cache
def _parser() -> MarkdownIt:
    # Tables are common in docs and their cells are searchable content, so enable them on top of
    # commonmark; raw HTML is parsed so it can be reduced to its text rather than indexed as markup.
    # markdown-it silently drops everything nested deeper than maxNesting (20 under commonmark), so
    # lift the cap; pathological nesting then hits the recursion limit instead, handled below.
    options = {"html": True, "maxNesting": 1_000_000}
    return MarkdownIt("commonmark", options).enable(["table", "strikethrough"])


def _inline_text(token: Token) -> str:
    pieces: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "image"):
            # An image's alt text is the only part of it a reader would search for.
            pieces.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            pieces.append(" ")
    return collapse_whitespace("".join(pieces))


@dataclass
class _ListState:
    ordered: bool
    next_number: int


@dataclass
class _ItemState:
    marker: str
    marker_used: bool = False


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[RawBlock] = []
        self.lists: list[_ListState] = []
        self.items: list[_ItemState] = []
        self.table_cells: list[str] | None = None
        self.group: object | None = None
        self.pending_heading: int | None = None

    def walk(self, tokens: list[Token]) -> list[RawBlock]:
        for token in tokens:
            self._visit(token)
        return self.blocks

    def _visit(self, token: Token) -> None:
        kind = token.type
        if kind == "heading_open":
            self.pending_heading = int(token.tag[1:])
        elif kind == "inline":
            self._inline(_inline_text(token))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if not self.lists:
                self.group = object()
            start = token.attrs.get("start", 1)
            self.lists.append(_ListState(kind == "ordered_list_open", int(start)))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            if not self.lists:
                self.group = None
        elif kind == "list_item_open":
            self._open_item()
        elif kind == "list_item_close":
            self.items.pop()
        elif kind in ("fence", "code_block"):
            self.blocks.append(RawBlock("code", token.content))
        elif kind == "html_block":
            self.blocks.extend(parse_html(token.content))
        elif kind == "table_open":
            self.group = object()
        elif kind == "table_close":
            self.group = None
        elif kind == "tr_open":
            self.table_cells = []
        elif kind == "tr_close" and self.table_cells is not None:
            row = _TABLE_CELL_SEPARATOR.join(cell for cell in self.table_cells if cell)
            if row:
                self.blocks.append(RawBlock("paragraph", row, group=self.group))
            self.table_cells = None

    def _inline(self, text: str) -> None:
        if self.pending_heading is not None:
            if text:
                self.blocks.append(RawBlock("heading", text, level=self.pending_heading))
            self.pending_heading = None
        elif self.table_cells is not None:
            self.table_cells.append(text)
        elif not text:
            return
        elif self.items:
            item = self.items[-1]
            # Only an item's first paragraph carries its bullet; later ones are continuation text.
            marker = "" if item.marker_used else item.marker
            item.marker_used = True
            self.blocks.append(RawBlock("list", marker + text, group=self.group))
        else:
            self.blocks.append(RawBlock("paragraph", text))

    def _open_item(self) -> None:
        state = self.lists[-1]
        if state.ordered:
            marker = f"{state.next_number}. "
            state.next_number += 1
        else:
            marker = "- "
        self.items.append(_ItemState(marker))


def parse_markdown(content: str) -> list[RawBlock]:
    try:
        tokens = _parser().parse(content)
    except RecursionError:
        # Hundreds of nested quotes or lists: index the words as plain text rather than fail the
        # document or lose its content.
        return parse_plaintext(content)
    return _Walker().walk(tokens)
