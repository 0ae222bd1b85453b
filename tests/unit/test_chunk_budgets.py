"""Chunk budgets counted in the embedding model's own tokens: no chunk is over budget for the model
(so the encoder never truncates one), and offsets stay exact."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from ragstream.embedding.tokenizer import tokenizer_file
from ragstream.settings import ChunkingSettings, EmbeddingSettings
from ragstream.streams.chunking import ChunkingConfig, chunk_document
from ragstream.streams.stages import ChunkingPolicy, budget_tokenizer, chunker_id

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tokenizer_path() -> str:
    path = tokenizer_file(EmbeddingSettings())
    assert path is not None, "the bundled model ships its tokenizer.json"
    return str(path)


def _model_tokens(path: str, text: str) -> int:
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


@pytest.mark.parametrize("topic", ["exceptions", "with", "formatstrings", "types"])
def test_every_chunk_fits_the_budget_in_model_tokens_with_exact_offsets(
    tokenizer_path: str, topic: str
) -> None:
    from pydoc_data.topics import topics

    text = topics[topic]
    config = ChunkingConfig(max_tokens=64, overlap_tokens=8, min_tokens=4, tokenizer=tokenizer_path)
    extracted, spans = chunk_document(text, "text/plain", config)
    assert len(spans) > 3
    for span in spans:
        assert extracted.text[span.start : span.end] == span.text
        assert _model_tokens(tokenizer_path, span.text) <= config.max_tokens, span.text


def test_the_estimate_and_the_model_count_differently_and_the_chunker_id_says_which(
    tokenizer_path: str,
) -> None:
    from pydoc_data.topics import topics

    text = topics["exceptions"]
    estimated = chunk_document(text, "text/plain", ChunkingConfig(max_tokens=64, overlap_tokens=8))[1]
    counted = chunk_document(
        text, "text/plain", ChunkingConfig(max_tokens=64, overlap_tokens=8, tokenizer=tokenizer_path)
    )[1]
    assert [s.text for s in estimated] != [s.text for s in counted]
    settings = ChunkingSettings()
    assert budget_tokenizer(settings, EmbeddingSettings()) == tokenizer_path
    assert budget_tokenizer(ChunkingSettings(tokenizer="estimate"), EmbeddingSettings()) == ""
    policy = ChunkingPolicy(settings, tokenizer_path)
    assert chunker_id(policy.for_document("t", {})).endswith(",tokens=" + tokenizer_path.split("/")[-2])
    assert "tokens=" not in chunker_id(ChunkingPolicy(settings).for_document("t", {}))
