"""Commands written by any Avro producer are held to the same contract as the API's, in words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from ragstream.codec import load_codec
from ragstream.contracts import MAX_CONTENT_CHARS, UpdateDocumentAccess, UpsertDocument
from ragstream.settings import ChunkingSettings
from ragstream.streams.admission import (
    MODELS,
    RECORD_HEADROOM,
    contract_violation,
    oversize,
    storable,
    unembeddable,
)
from ragstream.streams.stages import ChunkingPolicy, EmbeddingStage, chunk_upserted
from ragstream.streams.versioning import COMMAND_NAMES
from tests.unit.codecs import UNIT_CODEC
from tests.unit.test_stages import upserted

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def decoded(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record as the validate stage sees it: through the Avro codec and back."""
    codec = load_codec(UNIT_CODEC)
    got = codec.decode(codec.encode(name, record))
    assert got.name == name
    return dict(got.record)


def upsert(**fields: Any) -> dict[str, Any]:
    return decoded(
        "UpsertDocument", UpsertDocument(document_id="d", content="text", event_time=NOW).to_avro() | fields
    )


def test_what_the_api_would_write_keeps_the_contract() -> None:
    assert contract_violation("UpsertDocument", upsert()) is None
    access = UpdateDocumentAccess(document_id="d", acl=["group:x"], event_time=NOW).to_avro()
    assert contract_violation("UpdateDocumentAccess", decoded("UpdateDocumentAccess", access)) is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"metadata": {"team": "a\x00b"}}, "NUL"),
        ({"document_id": "line\nbreak"}, "document_id"),
        ({"content": "x" * (MAX_CONTENT_CHARS + 1)}, "content"),
        ({"content": "   "}, "content must not be empty"),
        ({"acl": ["everyone"]}, "acl.0"),
        ({"metadata": {f"k{i}": "v" for i in range(65)}}, "metadata"),
        ({"content_type": "application/pdf"}, "binary"),
        ({"command_id": "c" * 257}, "command_id"),
        ({"command_id": "tab\tbed"}, "command_id"),
        ({"command_id": ""}, "command_id"),
    ],
)
def test_a_direct_producers_broken_command_is_named_in_a_line(fields: dict[str, Any], named: str) -> None:
    violation = contract_violation("UpsertDocument", upsert(**fields))
    assert violation is not None and named in violation
    assert "\n" not in violation and len(violation) < 1200


def test_the_reason_never_carries_a_nul_or_the_producers_long_text() -> None:
    key = "\x00" + "k" * 10_000
    violation = contract_violation("UpsertDocument", upsert(metadata={key: "v"}))
    assert violation is not None and "\x00" not in violation and len(violation) < 1200
    assert "k" * 200 not in violation


def test_every_error_is_counted_even_when_only_three_are_shown() -> None:
    violation = contract_violation(
        "UpsertDocument", upsert(tenant="a b", actor="", acl=["x"], title="t" * 2000, source={"s" * 65: "v"})
    )
    assert violation is not None and violation.count(";") == 2 and "(and 2 more)" in violation


def test_a_record_fits_only_with_room_for_its_framing_and_headers() -> None:
    limit = 1024 * 1024
    assert oversize("DocumentEmbedded", b"k", b"v" * (limit - RECORD_HEADROOM - 1), limit) is None
    too_large = oversize("DocumentEmbedded", b"k", b"v" * (limit - RECORD_HEADROOM), limit)
    assert too_large == "its DocumentEmbedded would be 1,044,480 bytes, over the 1,048,576 a record may hold"


def test_every_command_type_has_its_contract_model() -> None:
    assert set(MODELS) == COMMAND_NAMES


class ConstantEmbedder:
    """Any vector will do: only the size of the record it ends up in is measured."""

    name, version = "constant", "1"

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def embed_passages(self, texts: Sequence[str]) -> Any:
        return np.full((len(texts), self.dimension), 0.5, dtype=np.float32)

    def embed_query(self, text: str) -> Any:
        return self.embed_passages([text])[0]


@pytest.mark.parametrize(
    ("text", "dimension"),
    [
        ("\n\n".join(f"Paragraph {i}: " + "tusk ledger " * 60 for i in range(12)), 384),
        ("\n\n".join("Нарвал " * 150 for _ in range(6)), 384),
        ("one short line", 8),
    ],
)
async def test_the_embedded_size_known_before_the_model_runs_is_a_floor_of_the_real_one(
    text: str, dimension: int
) -> None:
    codec = load_codec(UNIT_CODEC)
    config = ChunkingPolicy(ChunkingSettings(max_tokens=64, overlap_tokens=8)).for_document("t", {})
    event = upserted(
        text, schema_version=2, source={"api": "v1"}, metadata={"source": "wiki", "k": "v" * 300},
        acl=["group:a"], locations=[],
    )  # fmt: skip
    chunked = chunk_upserted(event, config)
    value = codec.encode("DocumentChunked", chunked)
    [embedded] = await EmbeddingStage(ConstantEmbedder(dimension), None).embed([chunked])
    real = len(codec.encode("DocumentEmbedded", embedded))
    chunks = len(chunked["chunks"])
    floor = len(value) + chunks * dimension * 4
    assert floor <= real < floor + 16 * chunks + 256  # a floor, and a close one
    # So a limit the floor passes by a byte is refused before the model, and one it fits is not.
    key = b"t/d"
    fitting = len(key) + floor + RECORD_HEADROOM
    assert unembeddable(key, value, chunks, dimension, fitting) is None
    refused = unembeddable(key, value, chunks, dimension, fitting - 1)
    assert refused is not None and f"{chunks:,} chunks" in refused and f"{fitting - 1:,}" in refused


def test_a_rejection_carries_the_commands_ids_actor_and_source_in_a_storable_form() -> None:
    broken = upsert(
        actor="ops\x00bot" + "x" * 100_000,
        source={f"k{i}": "v\x00" for i in range(100)},
        command_id="c\x00" * 5000,
    )
    carried = storable(broken)
    assert carried["actor"].startswith("ops\\x00bot") and "\x00" not in carried["actor"]
    assert len(carried["actor"]) == len(carried["command_id"]) == 1024
    assert len(carried["source"]) == 32 and all(v == "v\\x00" for v in carried["source"].values())
    assert {k: v for k, v in carried.items() if k not in ("actor", "source", "command_id")} == {
        k: v for k, v in broken.items() if k not in ("actor", "source", "command_id")
    }
    # What the API would write is carried unchanged.
    fine = upsert(actor="key:ingest", source={"api": "v1"})
    assert storable(fine) == fine
