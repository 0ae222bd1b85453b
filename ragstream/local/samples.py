"""Small real documents generated on the spot (fpdf2, python-docx): the demo's and the tests' files.

Nothing is downloaded; every file is made from the text given, so a test knows which page holds what.
"""

from __future__ import annotations

import io
from collections.abc import Sequence


def pdf_bytes(pages: Sequence[str], *, title: str = "") -> bytes:
    """A PDF with one page per string (Latin-1 text, Helvetica)."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def docx_bytes(title: str, sections: Sequence[tuple[str, str]], table: Sequence[Sequence[str]] = ()) -> bytes:
    """A Word document: a title, a heading and a paragraph per section, then an optional table."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)
    for heading, text in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypted_pdf(pdf: bytes, password: str = "secret") -> bytes:
    """The PDF, encrypted with a user password (a hostile file for extraction)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bomb_docx(unpacked_bytes: int) -> bytes:
    """A valid DOCX with one extra member of `unpacked_bytes` zeros: tiny packed, huge unpacked."""
    import zipfile

    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx_bytes("Bomb", [("A", "b")]))) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for item in source.infolist():
            bomb.writestr(item, source.read(item))
        bomb.writestr("word/media/zeros.bin", b"\0" * unpacked_bytes)
    return out.getvalue()


def eml_bytes(subject: str, body: str, attachments: Sequence[tuple[str, str, bytes]] = ()) -> bytes:
    """An e-mail (RFC 5322) with a plain body and (file name, media type, bytes) attachments."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "ops@example.com"
    message["To"] = "team@example.com"
    message["Subject"] = subject
    message["Date"] = "Mon, 05 Jan 2026 09:30:00 +0000"
    message.set_content(body)
    for name, media_type, data in attachments:
        maintype, subtype = media_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)
