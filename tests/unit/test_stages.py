"""Chunking policy and the chunk stage: what the chunk_documents processor emits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from ragstream.embedding.passage import PASSAGE_FORMAT, passage_input
from ragstream.settings import ChunkingProfile, ChunkingSettings
from ragstream.streams.stages import ChunkingPolicy, EmbeddingStage, chunk_upserted, chunker_id

pytestmark = pytest.mark.unit


def upserted(content: str, **fields: Any) -> dict[str, Any]:
    event = {
        "schema_version": 1, "command_id": "c", "tenant": "t", "document_id": "d", "actor": "a",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC), "source": {}, "event_id": "e", "version": 3,
        "recorded_time": datetime(2026, 1, 1, tzinfo=UTC), "command_position": "x/0/1", "title": "T",
        "metadata": {"source": "wiki"}, "acl": [], "content": content, "content_type": "text/plain",
    }  # fmt: skip
    event.update(fields)
    return event


def test_tenant_override_wins_over_source_override_over_default() -> None:
    policy = ChunkingPolicy(
        ChunkingSettings(
            max_tokens=200,
            per_tenant={"acme": ChunkingProfile(max_tokens=50, overlap_tokens=5)},
            per_source={"wiki": ChunkingProfile(max_tokens=100, overlap_tokens=10)},
        )
    )
    assert policy.for_document("acme", {"source": "wiki"}).max_tokens == 50
    assert policy.for_document("other", {"source": "wiki"}).max_tokens == 100
    assert policy.for_document("other", {}).max_tokens == 200


def test_chunks_carry_deterministic_numbers_spans_and_hashes() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 80 for i in range(4))
    config = ChunkingPolicy(ChunkingSettings(max_tokens=120, overlap_tokens=10)).for_document("t", {})
    first, second = chunk_upserted(upserted(text), config), chunk_upserted(upserted(text), config)
    assert first == second
    assert first["content_version"] == 3 and first["chunker"] == chunker_id(config)
    numbers = [c["chunk_number"] for c in first["chunks"]]
    assert numbers == list(range(len(numbers))) and len(numbers) > 1
    assert all(c["end"] > c["start"] for c in first["chunks"])
    assert len({c["content_hash"] for c in first["chunks"]}) == len(numbers)


class RecordingEmbedder:
    """Turns each passage into a vector derived from its text, and remembers what it was given."""

    name, version, dimension = "recording", "1", 2

    def __init__(self) -> None:
        self.passages: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> Any:
        self.passages += texts
        return np.asarray([[len(t), sum(map(ord, t)) % 97] for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> Any:
        return self.embed_passages([text])[0]


class DictCache:
    """The EmbeddingCache interface over a dict (the PostgreSQL one is covered by integration tests)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], bytes] = {}

    async def get(self, model: str, hashes: Sequence[str]) -> dict[str, bytes]:
        return {h: self.rows[(model, h)] for h in hashes if (model, h) in self.rows}

    async def put(self, model: str, vectors: Mapping[str, bytes]) -> None:
        self.rows.update({(model, h): v for h, v in vectors.items()})


def chunked(title: str, heading: str, text: str) -> dict[str, Any]:
    return {"tenant": "t", "title": title, "chunks": [{"chunk_number": 0, "text": text, "heading": heading}]}


async def test_the_title_and_heading_path_are_embedded_with_each_chunk_not_stored() -> None:
    embedder = RecordingEmbedder()
    [record] = await EmbeddingStage(embedder, None).embed(
        [chunked("Kafka guide", "Install > Linux", "Run it.")]
    )

    assert embedder.passages == ["Kafka guide\nInstall > Linux\nRun it."]
    # What is stored and cited stays the chunk's own text.
    assert record["chunks"][0]["text"] == "Run it."


def test_passage_input_does_not_repeat_a_title_the_heading_path_starts_with() -> None:
    assert passage_input("Guide", "Guide > Install", "text") == "Guide > Install\ntext"
    assert passage_input("", "", "text") == "text"
    assert passage_input("  A   title ", "", "text") == "A title\ntext"


async def test_the_same_text_under_another_title_is_another_vector() -> None:
    embedder, cache = RecordingEmbedder(), DictCache()
    stage = EmbeddingStage(embedder, cache)  # type: ignore[arg-type]
    first = await stage.embed([chunked("Apples", "", "Same text.")])
    second = await stage.embed([chunked("Pears", "", "Same text.")])
    again = await stage.embed([chunked("Apples", "", "Same text.")])

    assert len(embedder.passages) == 2  # the third came from the cache
    assert first[0]["chunks"][0]["vector"] != second[0]["chunks"][0]["vector"]
    assert again[0]["chunks"][0]["vector"] == first[0]["chunks"][0]["vector"]
    assert again[0]["embeddings_computed"] == 0


def test_the_passage_format_is_part_of_the_embedder_version() -> None:
    # The version keys the embedding cache and is recorded with every vector: vectors of chunk text
    # alone (earlier releases) are never reused for title + heading + text.
    from ragstream.embedding import load_embedder
    from ragstream.settings import EmbeddingSettings

    assert load_embedder(EmbeddingSettings()).version.endswith("+" + PASSAGE_FORMAT)


class CallRecordingEmbedder(RecordingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def embed_passages(self, texts: Sequence[str]) -> Any:
        self.calls.append(len(texts))
        return super().embed_passages(texts)


def long_document(chunks: int) -> dict[str, Any]:
    return {
        "tenant": "t",
        "title": "Long",
        "chunks": [{"chunk_number": n, "text": f"Passage {n}.", "heading": ""} for n in range(chunks)],
    }


async def test_a_document_over_the_per_call_cap_is_embedded_in_several_calls_each_in_a_turn() -> None:
    whole, split = CallRecordingEmbedder(), CallRecordingEmbedder()
    turns: list[str] = []

    @contextlib.asynccontextmanager
    async def turn() -> AsyncIterator[None]:
        turns.append("enter")
        yield
        turns.append("exit")

    [at_once] = await EmbeddingStage(whole, None).embed([long_document(10)])
    [in_parts] = await EmbeddingStage(split, None).embed([long_document(10)], per_call=4, turn=turn)

    assert whole.calls == [10]
    assert split.calls == [4, 4, 2]
    assert turns == ["enter", "exit"] * 3  # the model is given back between calls
    assert in_parts == at_once  # the same vectors on the same chunks, in the same order
