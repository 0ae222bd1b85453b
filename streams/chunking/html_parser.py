"""HTML: BeautifulSoup walk that turns block elements into blocks and drops page chrome."""

from __future__ import annotations

from dataclasses import dataclass, field

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, Tag

from ragstream.streams.chunking.document import BlockKind, RawBlock, clean_code, collapse_whitespace

# Never reader-visible content (or navigation repeated on every page, which would drown real matches).
_DROPPED = ("script", "style", "nav", "noscript", "template", "head", "svg", "iframe", "object")
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements that end the running paragraph: their text must not be glued to their neighbours'.
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "html",
        "legend",
        "li",
        "main",
        "ol",
        "p",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "ul",
    }
)
_TABLE_CELL_SEPARATOR = " | "


@dataclass
class _Item:
    marker: str
    marker_used: bool = False


@dataclass
class _Walker:
    blocks: list[RawBlock] = field(default_factory=list)
    buffer: list[str] = field(default_factory=list)
    # One entry per open <ul>/<ol>: None for bullets, else the next number.
    lists: list[int | None] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)
    group: object | None = None

    def flush(self) -> None:
        text = collapse_whitespace("".join(self.buffer))
        self.buffer.clear()
        if not text:
            return
        if not self.items:
            self.blocks.append(RawBlock("paragraph", text))
            return
        item = self.items[-1]
        marker = "" if item.marker_used else item.marker
        item.marker_used = True
        self.blocks.append(RawBlock("list", marker + text, group=self.group))

    def emit(self, kind: BlockKind, text: str, level: int = 0, group: object | None = None) -> None:
        self.flush()
        self.blocks.append(RawBlock(kind, text, level=level, group=group))

    def enter(self, tag: Tag) -> bool:
        """Handle an opening tag; False when its children were consumed here already."""
        name = tag.name
        if name in _HEADINGS:
            self.emit("heading", collapse_whitespace(tag.get_text()), level=_HEADINGS[name])
            return False
        if name == "pre":
            self.emit("code", clean_code(tag.get_text()))
            return False
        if name == "tr":
            cells = (
                collapse_whitespace(cell.get_text(" "))
                for cell in tag.find_all(["td", "th"], recursive=False)
            )
            self.emit(
                "paragraph", _TABLE_CELL_SEPARATOR.join(cell for cell in cells if cell), group=self.group
            )
            return False
        if name in _BLOCK_TAGS:
            self.flush()
        if name in ("ul", "ol"):
            if not self.lists:
                self.group = object()
            self.lists.append(_list_start(tag) if name == "ol" else None)
        elif name == "li":
            self.items.append(_Item(self._next_marker()))
        elif name == "table" and not self.lists:
            self.group = object()
        return True

    def leave(self, tag: Tag) -> None:
        name = tag.name
        if name in _BLOCK_TAGS:
            self.flush()
        if name in ("ul", "ol") and self.lists:
            self.lists.pop()
            if not self.lists:
                self.group = None
        elif name == "li" and self.items:
            self.items.pop()
        elif name == "table" and not self.lists:
            self.group = None

    def _next_marker(self) -> str:
        if not self.lists or self.lists[-1] is None:
            return "- "
        number = self.lists[-1]
        self.lists[-1] = number + 1
        return f"{number}. "


def _list_start(tag: Tag) -> int:
    start = tag.get("start")
    return int(start) if isinstance(start, str) and start.strip().lstrip("-").isdigit() else 1


def parse_html(content: str) -> list[RawBlock]:
    soup = BeautifulSoup(content, "html.parser")
    for dropped in soup.find_all(_DROPPED):
        dropped.decompose()
    # A line break separates words even though it has no text of its own.
    for line_break in soup.find_all("br"):
        line_break.replace_with("\n")

    walker = _Walker()
    # An explicit stack instead of recursion: deeply nested markup must not hit the recursion limit.
    stack: list[tuple[PageElement, bool]] = [(soup, False)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, Tag):
            if leaving:
                walker.leave(node)
            elif walker.enter(node):
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.contents))
        # Exact type check: comments, doctypes and CDATA are NavigableString subclasses.
        elif type(node) is NavigableString:
            walker.buffer.append(str(node))
    walker.flush()
    return walker.blocks
