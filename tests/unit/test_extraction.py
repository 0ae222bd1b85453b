"""Text extraction: clean text, block structure and offsets that citations can rely on."""

from __future__ import annotations

import pytest

from ragstream.exceptions import RagstreamError
from ragstream.streams.chunking import Block, ExtractedText, UnsupportedContentType, extract_text

pytestmark = pytest.mark.unit


def kinds_and_texts(extracted: ExtractedText) -> list[tuple[str, str]]:
    return [(block.kind, block.text) for block in extracted.blocks]


def headings(extracted: ExtractedText) -> list[tuple[int, str]]:
    return [(block.level, block.text) for block in extracted.blocks if block.kind == "heading"]


UNICODE_DOCS = {
    "text/plain": "Überblick\n\nCafé naïve — 東京 は 大きい。 emoji 🚀🎉 done.\n\nברכה e\u0301",
    "text/markdown": "# Überblick\n\nCafé *naïve* — 東京 は 大きい。\n\n- emoji 🚀🎉\n- ברכה e\u0301",
    "text/html": "<h1>Überblick</h1><p>Café <b>naïve</b> — 東京</p><ul><li>emoji 🚀🎉</li><li>ברכה</li></ul>",
}


@pytest.mark.parametrize("content_type", sorted(UNICODE_DOCS))
def test_block_offsets_index_the_extracted_text(content_type: str) -> None:
    extracted = extract_text(UNICODE_DOCS[content_type], content_type)

    assert extracted.blocks
    for block in extracted.blocks:
        assert extracted.text[block.start : block.end] == block.text
        assert block.text == block.text.strip()
    # Blocks are in document order and the text between them is only layout whitespace.
    previous_end = 0
    for block in extracted.blocks:
        assert extracted.text[previous_end : block.start].strip() == ""
        previous_end = block.end
    assert extracted.text[previous_end:] == ""


@pytest.mark.parametrize("content", ["", "   ", "\n\n\t \n"])
@pytest.mark.parametrize("content_type", ["text/plain", "text/markdown", "text/html"])
def test_blank_content_extracts_to_nothing(content: str, content_type: str) -> None:
    assert extract_text(content, content_type) == ExtractedText("", [])


class TestMarkdown:
    def test_headings_lose_their_markers_and_keep_their_level(self) -> None:
        extracted = extract_text(
            "# Install\n\ntext\n\n## Linux\n\nmore\n\nSetext\n------\n\nend", "text/markdown"
        )

        assert headings(extracted) == [(1, "Install"), (2, "Linux"), (2, "Setext")]
        assert "#" not in extracted.text

    def test_inline_markup_is_stripped_but_its_words_kept(self) -> None:
        extracted = extract_text(
            "Run **`pip install x`** then see [the guide](https://example.com/guide) ![diagram](d.png).",
            "text/markdown",
        )

        assert extracted.text == "Run pip install x then see the guide diagram."

    def test_fenced_code_is_kept_verbatim_as_a_code_block(self) -> None:
        source = "Intro\n\n```python\ndef f():\n    return  1\n```\n\nAfter"

        extracted = extract_text(source, "text/markdown")

        assert kinds_and_texts(extracted) == [
            ("paragraph", "Intro"),
            ("code", "def f():\n    return  1"),
            ("paragraph", "After"),
        ]

    def test_list_items_are_list_blocks_on_consecutive_lines(self) -> None:
        extracted = extract_text("Steps:\n\n1. download\n2. install\n\n- tip", "text/markdown")

        assert kinds_and_texts(extracted) == [
            ("paragraph", "Steps:"),
            ("list", "1. download"),
            ("list", "2. install"),
            ("list", "- tip"),
        ]
        assert "1. download\n2. install" in extracted.text

    def test_table_rows_become_paragraphs_with_their_cells(self) -> None:
        extracted = extract_text("| os | command |\n|----|---------|\n| mac | brew |", "text/markdown")

        assert kinds_and_texts(extracted) == [("paragraph", "os | command"), ("paragraph", "mac | brew")]

    def test_raw_html_inside_markdown_is_reduced_to_text(self) -> None:
        extracted = extract_text(
            "Before\n\n<div><script>track()</script><b>Shown</b></div>\n\nAfter", "markdown"
        )

        assert extracted.text == "Before\n\nShown\n\nAfter"

    def test_deep_nesting_does_not_lose_content(self) -> None:
        # markdown-it drops anything nested past its default limit of 20 levels.
        assert extract_text("> " * 40 + "deep quote", "text/markdown").text == "deep quote"

    def test_pathological_nesting_falls_back_to_plain_text(self) -> None:
        extracted = extract_text("> " * 3000 + "deepest", "text/markdown")

        assert extracted.text.endswith("deepest")


class TestHtml:
    def test_script_style_and_nav_content_is_dropped(self) -> None:
        page = """<html><head><title>T</title><style>.secret-css { color: red }</style></head>
        <body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
        <script>var secretScript = 1;</script><noscript>enable js</noscript>
        <!-- a comment --><p>Visible text.</p></body></html>"""

        extracted = extract_text(page, "text/html")

        assert extracted.text == "Visible text."

    def test_headings_and_block_elements_become_blocks(self) -> None:
        page = (
            "<h1>Guide</h1><p>Intro <em>text</em>.</p><h3>Detail</h3>"
            "<ul><li>first</li><li>second</li></ul><ol start='3'><li>third</li></ol>"
            "<pre>  indented\n    code</pre>"
            "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>"
        )

        extracted = extract_text(page, "text/html")

        assert kinds_and_texts(extracted) == [
            ("heading", "Guide"),
            ("paragraph", "Intro text."),
            ("heading", "Detail"),
            ("list", "- first"),
            ("list", "- second"),
            ("list", "3. third"),
            ("code", "  indented\n    code"),
            ("paragraph", "k | v"),
            ("paragraph", "a | 1"),
        ]
        assert headings(extracted) == [(1, "Guide"), (3, "Detail")]

    def test_entities_are_decoded_and_line_breaks_separate_words(self) -> None:
        extracted = extract_text("<p>Fish &amp; chips<br>served&nbsp;hot</p>", "text/html")

        assert extracted.text == "Fish & chips served hot"

    def test_text_outside_elements_is_not_glued_to_neighbouring_blocks(self) -> None:
        extracted = extract_text("loose<div>inside</div>tail", "text/html")

        assert kinds_and_texts(extracted) == [
            ("paragraph", "loose"),
            ("paragraph", "inside"),
            ("paragraph", "tail"),
        ]

    def test_deeply_nested_markup_is_handled(self) -> None:
        page = "<div>" * 3000 + "deep text" + "</div>" * 3000

        assert extract_text(page, "text/html").text == "deep text"


class TestPlainText:
    def test_paragraphs_split_on_blank_lines(self) -> None:
        extracted = extract_text("First para\nstill first.\n\n\n  Second para.  \r\n\r\nThird.", "text/plain")

        assert kinds_and_texts(extracted) == [
            ("paragraph", "First para\nstill first."),
            ("paragraph", "Second para."),
            ("paragraph", "Third."),
        ]

    def test_underlined_and_capitalised_titles_become_headings(self) -> None:
        source = "User Guide\n==========\n\nWelcome.\n\nINSTALLATION\n\nRun it.\n\nUsage\n-----\n\nCall it."

        extracted = extract_text(source, "text/plain")

        assert headings(extracted) == [(1, "User Guide"), (1, "INSTALLATION"), (2, "Usage")]
        assert "=====" not in extracted.text

    def test_capitals_that_are_not_titles_stay_paragraphs(self) -> None:
        source = "Intro.\n\nTHIS IS A WHOLE SENTENCE SHOUTED AT THE READER.\n\nBody.\n\nEND"

        assert headings(extract_text(source, "text/plain")) == []

    def test_nul_characters_are_removed(self) -> None:
        # PostgreSQL text columns reject NUL, and the extracted text is what gets stored.
        assert extract_text("a\x00b", "text/plain").text == "ab"


class TestContentTypes:
    @pytest.mark.parametrize(
        ("content_type", "expected_heading"),
        [
            ("text", []),
            ("TEXT/PLAIN", []),
            ("markdown", [(1, "Title")]),
            ("md", [(1, "Title")]),
            ("text/markdown; charset=utf-8", [(1, "Title")]),
            ("html", []),
            ("text/html; charset=UTF-8", []),
        ],
    )
    def test_aliases_and_parameters_select_the_right_extractor(
        self, content_type: str, expected_heading: list[tuple[int, str]]
    ) -> None:
        assert headings(extract_text("# Title\n\nbody", content_type)) == expected_heading

    def test_html_alias_parses_markup(self) -> None:
        assert extract_text("<p>x</p>", "html").text == "x"

    @pytest.mark.parametrize("content_type", ["application/pdf", "image/png", "", "text/csv"])
    def test_unsupported_content_type_raises_a_clear_error(self, content_type: str) -> None:
        with pytest.raises(UnsupportedContentType) as raised:
            extract_text("data", content_type)

        assert isinstance(raised.value, RagstreamError)
        assert raised.value.content_type == content_type
        assert repr(content_type) in str(raised.value)
        assert "text/markdown" in str(raised.value)


def test_extracted_text_rejects_blocks_that_do_not_match_the_text() -> None:
    with pytest.raises(ValueError, match="does not match"):
        ExtractedText("hello world", [Block("paragraph", "hello", 1, 6)])
