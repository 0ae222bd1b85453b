"""Binary documents to Markdown text with locations (page, slide, sheet), one well-kept library each.

pypdf (pure Python, small) for PDF text by page; python-docx, python-pptx and openpyxl for Office
files (headings, lists and tables as Markdown); the standard library's email parser for messages.
docs/documents.md says why these and not markitdown or pdfminer. Everything here runs inside the
bounded extraction process (sandbox.py): a hostile file may exhaust it, never the worker.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

OOXML_MAIN_PART = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "word/document.xml",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "ppt/presentation.xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xl/workbook.xml",
}
PDF = "application/pdf"
EMAIL = "message/rfc822"


class ExtractionFailed(Exception):
    """The file cannot be turned into text; the message is the reason the user sees."""


@dataclass(frozen=True)
class Limits:
    max_pages: int = 300
    max_chars: int = 2 * 1024 * 1024
    max_unzipped_bytes: int = 200 * 1024 * 1024


@dataclass
class Extracted:
    """Markdown text and where each part of the original lies in it: (start, end, label)."""

    text: str = ""
    locations: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, label: str, body: str) -> None:
        body = body.strip()
        if not body:
            return
        if self.text:
            self.text += "\n\n"
        start = len(self.text)
        self.text += body
        if label:
            self.locations.append((start, len(self.text), label))


def _table(rows: Iterable[Iterable[object]]) -> str:
    """Rows as a Markdown table (the first row as its header); pipes and newlines escaped."""
    cells = [
        ["" if c is None else str(c).replace("|", "\\|").replace("\n", " ").strip() for c in r] for r in rows
    ]
    cells = [r for r in cells if any(r)]
    if not cells:
        return ""
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return "\n".join(lines)


def _pdf(data: bytes, limits: Limits) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if b"%PDF-" not in data[:1024]:
        raise ExtractionFailed("the content type says PDF but the bytes are not a PDF")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionFailed("the PDF is encrypted (password-protected); send it unencrypted")
        pages = len(reader.pages)
        if pages > limits.max_pages:
            raise ExtractionFailed(f"the PDF has {pages} pages, over the limit of {limits.max_pages}")
        out = Extracted()
        for number, page in enumerate(reader.pages, start=1):
            out.add(f"page {number}", page.extract_text() or "")
            if len(out.text) > limits.max_chars:
                raise ExtractionFailed(f"the PDF's text is over the limit of {limits.max_chars} characters")
    except FileNotDecryptedError:
        raise ExtractionFailed("the PDF is encrypted (password-protected); send it unencrypted") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ExtractionFailed(f"the PDF is damaged or unreadable ({type(exc).__name__}: {exc})") from None
    return out


def _checked_zip(data: bytes, media_type: str, limits: Limits) -> None:
    """Refuses what is not the Office file it claims to be, and zip bombs, before any parser opens it."""
    if not data.startswith(b"PK\x03\x04"):
        raise ExtractionFailed(
            f"the content type says {_short(media_type)} but the bytes are not an Office file"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ExtractionFailed(f"the {_short(media_type)} file is damaged ({exc})") from None
    if OOXML_MAIN_PART[media_type] not in names:
        raise ExtractionFailed(f"the content type says {_short(media_type)} but the file is another kind")
    unzipped = sum(i.file_size for i in infos)
    if unzipped > limits.max_unzipped_bytes:
        raise ExtractionFailed(
            f"the {_short(media_type)} file unpacks to {unzipped} bytes, over the limit of "
            f"{limits.max_unzipped_bytes} (a zip bomb?)"
        )


_SHORT = {
    PDF: "PDF",
    EMAIL: "e-mail",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PPTX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
}


def _short(media_type: str) -> str:
    return _SHORT.get(media_type, media_type)


def _docx(data: bytes, limits: Limits) -> Extracted:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    parts: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            parts.append(_table([cell.text for cell in row.cells] for row in block.rows))
            continue
        assert isinstance(block, Paragraph)
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        if style == "Title":
            parts.append(f"# {text}")
        elif style.startswith("Heading") and style[-1:].isdigit():
            parts.append("#" * min(int(style[-1]) + 1, 6) + " " + text)
        elif style.startswith("List"):
            parts.append(("1. " if "Number" in style else "- ") + text)
        else:
            parts.append(text)
    out = Extracted()
    # Consecutive list items stay one Markdown list.
    out.add("", "\n\n".join(parts).replace("\n\n- ", "\n- ").replace("\n\n1. ", "\n1. "))
    return out


def _pptx(data: bytes, limits: Limits) -> Extracted:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    out = Extracted()
    for number, slide in enumerate(deck.slides, start=1):
        parts: list[str] = []
        title = slide.shapes.title
        for shape in slide.shapes:
            if shape.has_text_frame and shape.text_frame.text.strip():
                text = shape.text_frame.text.strip()
                parts.append(f"## {text}" if title is not None and shape.shape_id == title.shape_id else text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                parts.append(_table([cell.text for cell in row.cells] for row in shape.table.rows))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                parts.append(f"Notes: {notes}")
        out.add(f"slide {number}", "\n\n".join(parts))
    return out


def _xlsx(data: bytes, limits: Limits) -> Extracted:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    out = Extracted()
    for sheet in workbook.worksheets:
        table = _table(sheet.iter_rows(values_only=True))
        out.add(f"sheet {sheet.title}", f"## {sheet.title}\n\n{table}" if table else "")
        if len(out.text) > limits.max_chars:
            raise ExtractionFailed(f"the workbook's text is over the limit of {limits.max_chars} characters")
    workbook.close()
    return out


def _email(data: bytes, limits: Limits) -> Extracted:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    if not any(message.get(h) for h in ("From", "To", "Subject", "Date")):
        raise ExtractionFailed("the content type says e-mail but the bytes have no message headers")
    header = "\n".join(
        f"- {h}: {message.get(h)}" for h in ("Subject", "From", "To", "Date") if message.get(h)
    )
    body = message.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    if body is not None and body.get_content_type() == "text/html":
        from bs4 import BeautifulSoup

        text = BeautifulSoup(text, "html.parser").get_text("\n")
    attachments = [a.get_filename() or "(unnamed)" for a in message.iter_attachments()]
    out = Extracted()
    out.add("", f"# {message.get('Subject') or '(no subject)'}\n\n{header}")
    out.add("", text)
    if attachments:
        out.add("", "Attachments: " + ", ".join(attachments))
    return out


EXTRACTORS: dict[str, Callable[[bytes, Limits], Extracted]] = {
    PDF: _pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _docx,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _pptx,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _xlsx,
    EMAIL: _email,
}


def extract(data: bytes, media_type: str, limits: Limits) -> Extracted:
    """The document's Markdown text and locations; raises ExtractionFailed with the reason."""
    extractor = EXTRACTORS.get(media_type)
    if extractor is None:
        raise ExtractionFailed(f"no extractor for {media_type}")
    if not data:
        raise ExtractionFailed("the file is empty (0 bytes)")
    if media_type in OOXML_MAIN_PART:
        _checked_zip(data, media_type, limits)
    try:
        out = extractor(data, limits)
    except ExtractionFailed:
        raise
    except MemoryError:
        raise ExtractionFailed("extraction ran out of its memory limit") from None
    except Exception as exc:  # the parsers raise many types on damaged files; the reason says which
        raise ExtractionFailed(
            f"the {_short(media_type)} file is damaged or unreadable ({type(exc).__name__}: {exc})"
        ) from None
    if len(out.text) > limits.max_chars:
        raise ExtractionFailed(f"the extracted text is over the limit of {limits.max_chars} characters")
    if not out.text.strip():
        raise ExtractionFailed(
            f"no text found in the {_short(media_type)} file (scanned pages need OCR, not supported)"
        )
    return out
