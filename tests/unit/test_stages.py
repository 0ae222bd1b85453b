"""Chunking policy and the chunk stage: what the chunk_documents processor emits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ragstream.settings import ChunkingProfile, ChunkingSettings
from ragstream.streams.stages import ChunkingPolicy, chunk_upserted, chunker_id

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
