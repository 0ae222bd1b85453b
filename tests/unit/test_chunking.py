"""Structure-aware chunking: budgets, section boundaries, overlap and citation-safe offsets."""

from __future__ import annotations

import itertools
import re

import pytest
from pydantic import ValidationError

from ragstream.streams.chunking import (
    ChunkingConfig,
    ChunkSpan,
    ExtractedText,
    chunk_document,
    chunk_text,
    count_tokens,
    extract_text,
)

pytestmark = pytest.mark.unit

SMALL = ChunkingConfig(max_tokens=40, overlap_tokens=10, min_tokens=5)


def sentences(count: int, topic: str = "alpha") -> str:
    return " ".join(f"Sentence {number} talks about {topic} in plain words." for number in range(count))


def assert_spans_valid(extracted: ExtractedText, chunks: list[ChunkSpan]) -> None:
    assert [chunk.number for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert extracted.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()


UNICODE_DOCS = {
    "text/plain": "Überblick\n=========\n\n" + "Café naïve — 東京は大きい。 emoji 🚀🎉 e\u0301 ברכה. " * 40,
    "text/markdown": "# Überblick\n\n"
    + "Café *naïve* — 東京は大きい。 🚀🎉 ברכה.\n\n" * 30
    + "## Zürich\n\n- ü 🎉",
    "text/html": "<h1>Überblick</h1>"
    + "<p>Café <b>naïve</b> — 東京 🚀🎉 e\u0301.</p>" * 30
    + "<h2>Zürich</h2>",
}


@pytest.mark.parametrize("content_type", sorted(UNICODE_DOCS))
def test_chunk_text_is_exactly_the_cited_span(content_type: str) -> None:
    extracted, chunks = chunk_document(UNICODE_DOCS[content_type], content_type, SMALL)

    assert len(chunks) > 3
    assert_spans_valid(extracted, chunks)


@pytest.mark.parametrize(
    "config",
    [
        ChunkingConfig(max_tokens=1, overlap_tokens=0, min_tokens=0),
        ChunkingConfig(max_tokens=7, overlap_tokens=3, min_tokens=2),
        SMALL,
        ChunkingConfig(),
    ],
)
def test_no_chunk_exceeds_the_token_budget(config: ChunkingConfig) -> None:
    document = (
        "# Title\n\n"
        + sentences(40)
        + "\n\n"
        + "a-very-long-sentence-without-any-stop " * 60
        + "\n\n```\n"
        + "x = compute(value) + 1\n" * 80
        + "```\n\n"
        + "Pneumonoultramicroscopicsilicovolcanoconiosis" * 30
    )

    extracted, chunks = chunk_document(document, "text/markdown", config)

    assert_spans_valid(extracted, chunks)
    assert max(count_tokens(chunk.text) for chunk in chunks) <= config.max_tokens


def test_small_paragraphs_are_packed_whole() -> None:
    paragraphs = [f"Paragraph {number} is short." for number in range(12)]

    _, chunks = chunk_document("\n\n".join(paragraphs), "text/plain", SMALL)

    assert 1 < len(chunks) < len(paragraphs)
    for chunk in chunks:
        # Every chunk begins and ends on a paragraph edge: none is cut in the middle.
        assert chunk.text.startswith("Paragraph") and chunk.text.endswith("short.")


def test_oversized_paragraph_is_split_on_sentence_boundaries() -> None:
    _, chunks = chunk_document(sentences(20), "text/plain", SMALL)

    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("Sentence ")
        assert chunk.text.endswith("words.")


def test_oversized_sentence_is_split_between_words() -> None:
    words = [f"word{number}" for number in range(300)]

    _, chunks = chunk_document(" ".join(words), "text/plain", SMALL)

    assert len(chunks) > 5
    for chunk in chunks:
        assert set(chunk.text.split()) <= set(words)
    assert chunks[0].text.split()[0] == "word0"
    assert chunks[-1].text.split()[-1] == "word299"


def test_a_word_longer_than_the_budget_is_cut_rather_than_overflowing() -> None:
    blob = "QUJD" * 500

    extracted, chunks = chunk_document(f"Payload: {blob} end.", "text/plain", SMALL)

    assert max(count_tokens(chunk.text) for chunk in chunks) <= SMALL.max_tokens
    # Nothing is lost or repeated: overlap needs a word boundary, and there is none inside the blob.
    joined = "".join(chunk.text for chunk in chunks)
    assert blob in joined
    assert joined.replace(" ", "") == extracted.text.replace(" ", "")


def test_chunks_do_not_cross_headings_between_substantial_sections() -> None:
    document = f"# Alpha\n\n{sentences(8, 'alpha')}\n\n# Beta\n\n{sentences(8, 'beta')}"

    _, chunks = chunk_document(document, "text/markdown", SMALL)

    for chunk in chunks:
        topics = set(re.findall(r"about (alpha|beta)", chunk.text))
        assert topics == {chunk.heading.lower()}
    beta_start = next(chunk for chunk in chunks if chunk.heading == "Beta")
    # No overlap is carried across the boundary: Beta's first chunk opens on its own heading.
    assert beta_start.text.startswith("Beta\n\n")


def test_heading_path_follows_markdown_nesting() -> None:
    document = (
        f"# Install\n\n{sentences(3)}\n\n## Linux\n\n{sentences(3)}\n\n### Debian\n\n{sentences(3)}\n\n"
        f"## Mac\n\n{sentences(3)}\n\n# Usage\n\n{sentences(3)}"
    )

    _, chunks = chunk_document(document, "text/markdown", ChunkingConfig(max_tokens=64, overlap_tokens=8))

    assert [chunk.heading for chunk in chunks] == [
        "Install",
        "Install > Linux",
        "Install > Linux > Debian",
        "Install > Mac",
        "Usage",
    ]
    assert [chunk.text.split("\n")[0] for chunk in chunks] == ["Install", "Linux", "Debian", "Mac", "Usage"]


def test_text_before_the_first_heading_has_an_empty_heading_path() -> None:
    _, chunks = chunk_document(f"{sentences(3)}\n\n# Later\n\n{sentences(3)}", "text/markdown", SMALL)

    assert chunks[0].heading == ""
    assert chunks[-1].heading == "Later"


def test_a_heading_only_section_joins_the_section_after_it() -> None:
    document = f"# Guide\n\n## Intro\n\n{sentences(2)}"

    _, chunks = chunk_document(document, "text/markdown", ChunkingConfig(max_tokens=64, overlap_tokens=8))

    assert chunks[0].text.startswith("Guide\n\nIntro\n\nSentence 0")
    assert chunks[0].heading == "Guide > Intro"


def test_tiny_consecutive_sections_are_merged_into_one_chunk() -> None:
    document = "# FAQ\n\n## Price\n\nFree.\n\n## Licence\n\nApache.\n\n## Support\n\nEmail us."

    extracted, chunks = chunk_document(document, "text/markdown", ChunkingConfig(max_tokens=64, min_tokens=8))

    assert [chunk.text for chunk in chunks] == [extracted.text]
    # Merged siblings are described by what they share, not by whichever came first.
    assert chunks[0].heading == "FAQ"


def test_a_tiny_section_is_never_split_across_chunks() -> None:
    bodies = ["Yes.", "No, never.", "Only on weekdays after noon.", "Ask support.", "Free."] * 4
    document = "\n\n".join(f"## Q{number}\n\n{body}" for number, body in enumerate(bodies))
    config = ChunkingConfig(max_tokens=14, overlap_tokens=0, min_tokens=10)

    _, chunks = chunk_document(document, "text/markdown", config)

    assert len(chunks) > 1
    for number, body in enumerate(bodies):
        section = f"Q{number}\n\n{body}"
        assert any(section in chunk.text for chunk in chunks), section


def test_min_tokens_zero_keeps_every_section_separate() -> None:
    document = "## Price\n\nFree.\n\n## Licence\n\nApache."

    _, chunks = chunk_document(document, "text/markdown", ChunkingConfig(max_tokens=64, min_tokens=0))

    assert [(chunk.heading, chunk.text) for chunk in chunks] == [
        ("Price", "Price\n\nFree."),
        ("Licence", "Licence\n\nApache."),
    ]


def test_consecutive_chunks_of_a_long_section_overlap_on_a_word_boundary() -> None:
    config = ChunkingConfig(max_tokens=60, overlap_tokens=16, min_tokens=4)

    extracted, chunks = chunk_document(sentences(30), "text/plain", config)

    assert len(chunks) > 3
    for previous, current in itertools.pairwise(chunks):
        assert previous.start < current.start < previous.end < current.end
        overlap = extracted.text[current.start : previous.end]
        assert config.overlap_tokens // 2 <= count_tokens(overlap) <= config.overlap_tokens
        assert extracted.text[current.start - 1].isspace()


def test_overlap_prefers_to_start_on_a_sentence() -> None:
    config = ChunkingConfig(max_tokens=60, overlap_tokens=16, min_tokens=4)

    _, chunks = chunk_document(sentences(30), "text/plain", config)

    assert all(chunk.text.startswith("Sentence ") for chunk in chunks)


def test_zero_overlap_gives_disjoint_chunks_in_order() -> None:
    config = ChunkingConfig(max_tokens=40, overlap_tokens=0, min_tokens=0)

    extracted, chunks = chunk_document(sentences(30), "text/plain", config)

    for previous, current in itertools.pairwise(chunks):
        assert previous.end < current.start
        assert extracted.text[previous.end : current.start].isspace()


def test_chunking_is_deterministic() -> None:
    document = UNICODE_DOCS["text/markdown"] + "\n\n" + sentences(50)

    first = chunk_document(document, "text/markdown", SMALL)
    second = chunk_document(
        document, "markdown", ChunkingConfig(max_tokens=40, overlap_tokens=10, min_tokens=5)
    )

    assert first == second


@pytest.mark.parametrize("content", ["", "  \n\t\n ", "<html><script>x()</script></html>"])
def test_documents_without_content_have_no_chunks(content: str) -> None:
    _, chunks = chunk_document(content, "text/html")

    assert chunks == []


def test_chunk_text_uses_default_config_when_none_given() -> None:
    extracted = extract_text(sentences(60), "text/plain")

    assert chunk_text(extracted) == chunk_text(extracted, ChunkingConfig())


class TestConfig:
    def test_defaults(self) -> None:
        config = ChunkingConfig()

        assert (config.max_tokens, config.overlap_tokens, config.min_tokens) == (256, 32, 16)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"max_tokens": 32, "overlap_tokens": 32},
            {"max_tokens": 16, "overlap_tokens": 20},
            {"overlap_tokens": -1},
            {"max_tokens": 0, "overlap_tokens": 0},
            {"max_tokens": 32, "overlap_tokens": 4, "min_tokens": 64},
            {"max_tokens": 32, "max_tokns": 4},
        ],
    )
    def test_invalid_budgets_are_rejected(self, kwargs: dict[str, int]) -> None:
        with pytest.raises(ValidationError):
            ChunkingConfig(**kwargs)

    def test_config_is_immutable(self) -> None:
        config = ChunkingConfig()

        with pytest.raises(ValidationError):
            config.max_tokens = 10


class TestCountTokens:
    def test_common_words_are_one_token_each(self) -> None:
        assert count_tokens("the cat sat on the mat") == 6

    def test_punctuation_long_words_numbers_and_cjk_count_extra(self) -> None:
        assert count_tokens("Hello, world!") == 4
        assert count_tokens("internationalization") > 1
        assert count_tokens("1234567890") > 1
        assert count_tokens("東京都") == 3

    def test_whitespace_has_no_tokens(self) -> None:
        assert count_tokens("") == 0
        assert count_tokens(" \n\t ") == 0

    def test_english_prose_is_roughly_wordpiece_sized(self) -> None:
        prose = (
            "The projection reads every change event from the log, extracts the text of the document, "
            "splits it into passages and writes them to both indexes before acknowledging the offset."
        )
        per_word = count_tokens(prose) / len(prose.split())

        assert 1.0 <= per_word <= 2.0
