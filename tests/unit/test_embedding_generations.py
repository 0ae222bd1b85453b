"""Embedding generations: what names them, what a rebuild asks the stream workers for."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragstream.codec import load_codec
from ragstream.codec.avro import AvroSingleObjectCodec, read_schema_dir
from ragstream.embedding.generation import EmbeddingGeneration
from ragstream.queries.admin import rebuild
from ragstream.queries.admin.jobs import AdminInvalid
from ragstream.queries.admin.rebuild import current_generation_of, plan_generation
from ragstream.queries.indexing.generation import Manifest
from ragstream.settings import EmbeddingSettings, Settings
from ragstream.streams.stages import budget_tokenizer
from ragstream.topics import catalogue
from tests.unit.codecs import UNIT_CODEC

pytestmark = pytest.mark.unit
SETTINGS = Settings()
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"
TOPICS = catalogue(SETTINGS.kafka.topic_prefix)


class Model:
    name, version, dimension = SETTINGS.embedding.model, "1", 4

    def embed_passages(self, texts: list[str]) -> Any:
        return np.zeros((len(texts), 4), dtype=np.float32)

    def embed_query(self, text: str) -> Any:
        return np.zeros(4, dtype=np.float32)


def plan(
    read_model: str = "all",
    model: str | None = None,
    path: str | None = None,
    *,
    tokenizer: str | None = None,
    backend: str | None = None,
    **chunking: int,
) -> Any:
    wanted = {k: chunking.get(k) for k in ("max_tokens", "overlap_tokens", "min_tokens")}
    return asyncio.run(
        plan_generation(
            SETTINGS, Model(), None, read_model, model, path, wanted, tokenizer=tokenizer, backend=backend
        )
    )


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


def test_the_budget_tokenizer_and_the_backend_name_a_generation_of_their_own() -> None:
    base = EmbeddingGeneration(48, 8, 4, "minilm")
    estimate = EmbeddingGeneration(48, 8, 4, "minilm", tokenizer="estimate")
    torch = EmbeddingGeneration(48, 8, 4, "minilm", backend="torch-fp32")
    assert len({base.id, estimate.id, torch.id}) == 3
    # A generation requested before these fields existed (read with the defaults) keeps the id,
    # and so the topic, it was given then.
    fields = {"max_tokens": 48, "overlap_tokens": 8, "min_tokens": 4, "embedding_model": "minilm",
              "embedding_model_path": None}  # fmt: skip
    before = "e" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    assert base.id == before


def test_a_v1_request_is_read_with_the_default_tokenizer_and_backend() -> None:
    schemas = read_schema_dir(SCHEMA_DIR)
    v1 = [s for s in schemas if s[0] != "RequestEmbeddingGeneration" or s[1] == 1]
    old, new = AvroSingleObjectCodec(v1), AvroSingleObjectCodec(schemas)
    generation = EmbeddingGeneration(48, 8, 4, "minilm")
    record = {k: v for k, v in generation.request("key:ops", datetime.now(UTC)).items()
              if k not in ("tokenizer", "backend")}  # fmt: skip
    decoded = new.decode(old.encode("RequestEmbeddingGeneration", {**record, "schema_version": 1}))
    assert EmbeddingGeneration.from_request(decoded.record) == generation
    assert decoded.record["generation_id"] == generation.id
    with pytest.raises(ValueError, match="unknown chunk tokenizer"):
        EmbeddingGeneration.from_request({**decoded.record, "tokenizer": "words"})


def test_a_worker_builds_with_the_generations_tokenizer_and_backend_not_its_own() -> None:
    generation = EmbeddingGeneration(
        48, 8, 4, SETTINGS.embedding.model, tokenizer="estimate", backend="torch-fp32"
    )
    embedding = generation.embedding_settings(EmbeddingSettings(backend="onnx-fp32"))
    assert embedding.backend == "torch-fp32"
    assert SETTINGS.chunking.tokenizer == "model"
    # The estimate needs no tokenizer file ("" names it), whatever the worker's own setting.
    assert budget_tokenizer(generation.chunking_settings(SETTINGS.chunking), embedding) == ""
    assert budget_tokenizer(SETTINGS.chunking, embedding) != ""


def test_another_tokenizer_rechunks_both_read_models() -> None:
    generation, embedder = plan(tokenizer="estimate")
    assert (
        generation.tokenizer == "estimate"
        and generation.chunking == EmbeddingGeneration.live(SETTINGS).chunking
    )
    assert generation != EmbeddingGeneration.live(SETTINGS) and isinstance(embedder, Model)
    with pytest.raises(AdminInvalid, match="read_model all"):
        plan("vector", tokenizer="estimate")


def test_another_backend_loads_the_query_model_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[EmbeddingSettings] = []

    def load(settings: EmbeddingSettings) -> Model:
        loaded.append(settings)
        return Model()

    monkeypatch.setattr(rebuild, "load_embedder", load)
    generation, _ = plan("vector", backend="torch-fp32")
    assert generation.backend == "torch-fp32" and [s.backend for s in loaded] == ["torch-fp32"]
    with pytest.raises(AdminInvalid, match="no encoder backend"):
        plan("lexical", backend="torch-fp32")
    # The node's own backend asks for nothing new.
    assert plan(backend=SETTINGS.embedding.backend)[0] == EmbeddingGeneration.live(SETTINGS)


def test_a_restarted_node_rebuilds_with_the_tokenizer_and_backend_its_generation_had() -> None:
    manifest = Manifest.new(
        "g3", "rebuild", "all", "minilm", None, 384, source="t", chunking={"max_tokens": 48,
        "overlap_tokens": 8, "min_tokens": 4}, chunk_tokenizer="estimate", embedding_backend="torch-fp32",
    )  # fmt: skip
    restored = current_generation_of(SETTINGS, manifest)
    assert (restored.tokenizer, restored.backend) == ("estimate", "torch-fp32")
