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
