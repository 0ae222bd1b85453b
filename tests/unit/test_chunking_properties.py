"""Property tests: whatever the input, chunks are valid citations that cover the document in order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragstream.streams.chunking import ChunkingConfig, chunk_document, count_tokens, extract_text

pytestmark = pytest.mark.unit

WORDS = [
    "the",
    "install",
    "configuration",
    "Ünïcödé",
    "東京",
    "🚀",
    "e\u0301",
    "ברכה",
    "x" * 40,
    "12345678",
    "#",
    "##",
    "-",
    "*",
    "1.",
    "```",
    "|",
    "<p>",
    "</p>",
    "<h2>",
    "<li>",
    "<script>",
    "&amp;",
    "Hello.",
    "Why?",
    "end!",
    "A.",
    "。",
]
SEPARATORS = [" ", " ", " ", "\n", "\n\n", "\t", "\n---\n", "\u00a0", "\r\n"]

# Any character a document can hold: no lone surrogate (Cs), which the command contracts and the
# JSON body reader refuse and UTF-8 (Avro) cannot carry, so none ever reaches the chunker.
characters = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
documents = st.lists(
    st.one_of(st.sampled_from(WORDS), st.sampled_from(SEPARATORS), characters),
    max_size=400,
).map("".join)
content_types = st.sampled_from(["text/plain", "text/markdown", "text/html"])


@st.composite
def configs(draw: st.DrawFn) -> ChunkingConfig:
    max_tokens = draw(st.integers(min_value=1, max_value=80))
    overlap = draw(st.integers(min_value=0, max_value=max_tokens - 1))
    minimum = draw(st.integers(min_value=0, max_value=max_tokens))
    return ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap, min_tokens=minimum)


@settings(max_examples=300, deadline=None)
@given(content=documents, content_type=content_types, config=configs())
def test_chunks_are_valid_in_order_within_budget_and_cover_all_content(
    content: str, content_type: str, config: ChunkingConfig
) -> None:
    extracted, chunks = chunk_document(content, content_type, config)
    text = extracted.text

    covered = bytearray(len(text))
    for number, chunk in enumerate(chunks):
        assert chunk.number == number
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert text[chunk.start : chunk.end] == chunk.text
        assert count_tokens(chunk.text) <= config.max_tokens
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    for previous, current in itertools.pairwise(chunks):
        assert previous.start < current.start
        assert previous.end < current.end
    assert all(covered[index] or char.isspace() for index, char in enumerate(text))


@settings(max_examples=200, deadline=None)
@given(content=documents.filter(lambda text: "-" not in text and "=" not in text))
def test_plain_text_extraction_keeps_every_visible_character_in_order(content: str) -> None:
    # Setext underlines ("---", "===") are the only characters plain-text extraction may drop.
    def visible(text: str) -> str:
        return "".join(char for char in text if not char.isspace())

    assert visible(extract_text(content, "text/plain").text) == visible(content)


@given(left=documents, right=documents)
def test_token_counts_add_up_across_whitespace(left: str, right: str) -> None:
    # The chunker sums unit counts instead of recounting joined text; this is what makes that exact.
    assert count_tokens(f"{left} {right}") == count_tokens(left) + count_tokens(right)
