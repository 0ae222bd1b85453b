"""The model tokenizer's slices: answered from one encoding of the whole text where a slice is cut
on word or punctuation boundaries, they must equal encoding the slice on its own, for any text and
any cut (the chunker's budgets and cut positions depend on it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragstream.embedding.tokenizer import tokenizer_file
from ragstream.settings import EmbeddingSettings
from ragstream.streams.chunking.tokens import ModelTokens

pytestmark = pytest.mark.unit

TOKENIZER = tokenizer_file(EmbeddingSettings())
# Words, punctuation BERT splits off and symbols it does not, accents in two forms, CJK, odd spaces
# and control characters: where a wordpiece tokenizer's boundaries are easy to get wrong.
PIECES = ["play", "ing", "un", "believ", "able", "42", "7", "é", "e\u0301", "ﬁ", "中文", "日本", "한국",
          "€", "§", "$", "'", ".", ",", "...", "—", "“", "”", "(", ")", "-", "/", "@", "#", "+",
          " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u200b", "\x00"]  # fmt: skip


@pytest.fixture(scope="module")
def tokens() -> ModelTokens:
    assert TOKENIZER is not None, "the bundled model ships its tokenizer.json"
    return ModelTokens(Path(TOKENIZER))


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=60),
    cuts=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8),
)
def test_any_slice_has_the_tokens_of_encoding_it_alone(
    tokens: ModelTokens, pieces: list[str], cuts: list[tuple[float, float]]
) -> None:
    text = "".join(pieces)
    for a, b in cuts:
        start, end = sorted((int(a * len(text)), int(b * len(text))))
        assert tokens.spans(text, start, end) == tokens._encode(text, start, end)


def test_slices_on_word_boundaries_come_from_one_encoding(tokens: ModelTokens) -> None:
    text = "Kafka keeps records. Consumers replay them, unbelievably fast!"
    on_boundaries = [
        (0, 5),
        (text.index("records"), text.index(" Consumers")),
        (text.index("them"), len(text)),
    ]
    word = text.index("unbelievably")
    inside = (word + 2, word + 9)  # "believa": cut inside one word
    encode = tokens._encode
    calls = []

    def counted(text: str, start: int, end: int) -> list[tuple[int, int]]:
        calls.append((start, end))
        return encode(text, start, end)

    tokens._encode = counted  # type: ignore[method-assign]
    try:
        got = [tokens.spans(text, start, end) for start, end in [*on_boundaries, inside]]
    finally:
        del tokens._encode
    assert got == [encode(text, start, end) for start, end in [*on_boundaries, inside]]
    # One encoding of the whole text, and one of the slice cut inside a word.
    assert calls == [(0, len(text)), inside]


def test_a_text_over_the_limit_is_encoded_slice_by_slice(
    tokens: ModelTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole text's tokens are kept until the next document: not for a book.
    monkeypatch.setattr("ragstream.streams.chunking.tokens.WHOLE_TEXT_MAX_CHARS", 20)
    text = "Kafka keeps records in partitions."
    encode = tokens._encode
    calls = []

    def counted(text: str, start: int, end: int) -> list[tuple[int, int]]:
        calls.append((start, end))
        return encode(text, start, end)

    monkeypatch.setattr(tokens, "_encode", counted)
    assert tokens.spans(text, 6, 11) == encode(text, 6, 11)
    assert calls == [(6, 11)]
