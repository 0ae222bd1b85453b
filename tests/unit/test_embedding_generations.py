"""Embedding generations: what names them, what a rebuild asks the stream workers for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from ragstream.codec import load_codec
from ragstream.embedding.generation import EmbeddingGeneration
from ragstream.queries.admin.jobs import AdminInvalid
from ragstream.queries.admin.rebuild import current_generation_of, plan_generation
from ragstream.queries.indexing.generation import Manifest
from ragstream.settings import Settings
from ragstream.topics import catalogue
from tests.unit.codecs import UNIT_CODEC

pytestmark = pytest.mark.unit
SETTINGS = Settings()
TOPICS = catalogue(SETTINGS.kafka.topic_prefix)


class Model:
    name, version, dimension = SETTINGS.embedding.model, "1", 4

    def embed_passages(self, texts: list[str]) -> Any:
        return np.zeros((len(texts), 4), dtype=np.float32)

    def embed_query(self, text: str) -> Any:
        return np.zeros(4, dtype=np.float32)


def plan(read_model: str = "all", model: str | None = None, path: str | None = None, **chunking: int) -> Any:
    wanted = {k: chunking.get(k) for k in ("max_tokens", "overlap_tokens", "min_tokens")}
    return asyncio.run(plan_generation(SETTINGS, Model(), None, read_model, model, path, wanted))


def test_the_live_generation_is_the_embeddings_topic_and_any_other_has_its_own() -> None:
    live = EmbeddingGeneration.live(SETTINGS)
    assert live.topic(TOPICS, SETTINGS) == TOPICS.embeddings.name
    smaller = EmbeddingGeneration(48, 8, 4, live.embedding_model)
    assert smaller.topic(TOPICS, SETTINGS) == f"{TOPICS.embeddings.name}.{smaller.id}"
    # Deterministic: asking twice names the same topic; any field changes it.
    assert smaller.id == EmbeddingGeneration(48, 8, 4, live.embedding_model).id
    assert len({smaller.id, live.id, EmbeddingGeneration(48, 8, 4, "other").id}) == 3


def test_a_request_round_trips_through_its_avro_contract() -> None:
    codec = load_codec(UNIT_CODEC)
    generation = EmbeddingGeneration(48, 8, 4, "minilm-copy", "/models/minilm")
    decoded = codec.decode(
        codec.encode("RequestEmbeddingGeneration", generation.request("key:ops", datetime.now(UTC)))
    )
    assert decoded.name == "RequestEmbeddingGeneration"
    assert decoded.record["generation_id"] == generation.id
    assert EmbeddingGeneration.from_request(decoded.record) == generation


def test_a_rebuild_without_options_rebuilds_the_live_generation_with_the_node_model() -> None:
    generation, embedder = plan()
    assert generation == EmbeddingGeneration.live(SETTINGS) and isinstance(embedder, Model)


def test_another_chunk_budget_needs_both_read_models_and_a_valid_budget() -> None:
    generation, _ = plan(max_tokens=48, overlap_tokens=8)
    assert generation.chunking == {"max_tokens": 48, "overlap_tokens": 8, "min_tokens": 16}
    with pytest.raises(AdminInvalid, match="read_model all"):
        plan("vector", max_tokens=48, overlap_tokens=8)
    with pytest.raises(AdminInvalid, match="overlap_tokens must be smaller"):
        plan(max_tokens=8, overlap_tokens=8)


def test_another_model_is_loaded_for_queries_and_refused_for_the_lexical_index() -> None:
    with pytest.raises(AdminInvalid, match="no embedding model"):
        plan("lexical", model="x")
    with pytest.raises(AdminInvalid, match="model_path"):
        plan("vector", model="no-such-model")


def test_the_node_rebuilds_from_what_its_live_generation_was_built_with() -> None:
    manifest = Manifest.new(
        "g2", "rebuild", "all", "minilm-copy", "/m", 384, source="t", chunking={"max_tokens": 48,
        "overlap_tokens": 8, "min_tokens": 4},
    )  # fmt: skip
    assert current_generation_of(SETTINGS, manifest) == EmbeddingGeneration(48, 8, 4, "minilm-copy", "/m")
    assert current_generation_of(SETTINGS, None) == EmbeddingGeneration.live(SETTINGS)
