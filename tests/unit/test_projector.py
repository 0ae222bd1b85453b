"""The index projection's guarantees on real embedded indexes: stale versions never overwrite newer
ones, redelivery never duplicates, deletes are never resurrected, offsets move with the data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ragstream.queries.indexing.generation import Generation
from ragstream.queries.readmodels.base import SearchFilter
from ragstream.records import LogRecord
from ragstream.topics import LANE_HEADER, Lane, position_key

pytestmark = pytest.mark.unit
DIM = 8
TOPIC = "t.document-embeddings"


def vector(seed: int) -> list[float]:
    return [1.0 if i == seed % DIM else 0.0 for i in range(DIM)]


def embedded(
    doc: str, version: int, texts: list[str], offset: int, *, acl: list[str] | None = None
) -> LogRecord:
    record: dict[str, Any] = {
        "tenant": "t", "document_id": doc, "version": version, "content_version": version, "title": doc,
        "metadata": {}, "acl": acl or [], "command_position": f"cmds/0/{offset}",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "chunks": [
            {"chunk_number": i, "text": t, "start": 0, "end": len(t), "vector": vector(i + version)}
            for i, t in enumerate(texts)
        ],
    }  # fmt: skip
    return LogRecord("DocumentEmbedded", record, TOPIC, 0, offset)


def deleted(doc: str, version: int, offset: int) -> LogRecord:
    record = {"tenant": "t", "document_id": doc, "version": version, "command_position": f"cmds/0/{offset}"}
    return LogRecord("DocumentDeleted", record, TOPIC, 0, offset)


@pytest.fixture
def generation(tmp_path: Path) -> Generation:
    return Generation.open(tmp_path, "g1", DIM)


def texts_of(generation: Generation, query: str) -> list[str]:
    hits = generation.projector.keyword.search(query, SearchFilter(tenant="t"), 50)
    return sorted(h.chunk.text for h in hits)


def test_redelivery_of_the_same_events_changes_nothing(generation: Generation) -> None:
    batch = [embedded("a", 1, ["red apple", "green apple"], 0), embedded("b", 1, ["apple pie"], 1)]
    generation.projector.apply_batch(batch)
    before = (
        texts_of(generation, "apple"),
        generation.projector.keyword.count(),
        generation.projector.vector.count(),
    )
    result = generation.projector.apply_batch(batch)
    after = (
        texts_of(generation, "apple"),
        generation.projector.keyword.count(),
        generation.projector.vector.count(),
    )
    # One hit per document (its best chunk), three chunks held.
    assert before == after == (["apple pie", "red apple"], 3, 3)
    assert result.skipped == 2 and not result.applied


def test_a_stale_version_never_overwrites_a_newer_one(generation: Generation) -> None:
    generation.projector.apply_batch([embedded("a", 2, ["new pear text"], 5)])
    generation.projector.apply_batch([embedded("a", 1, ["old pear text"], 4)])
    assert texts_of(generation, "pear") == ["new pear text"]


def test_a_replayed_upsert_never_resurrects_a_deleted_document(generation: Generation) -> None:
    upsert = embedded("a", 1, ["plum"], 0)
    generation.projector.apply_batch([upsert, deleted("a", 2, 1)])
    generation.projector.apply_batch([upsert])
    assert texts_of(generation, "plum") == []
    assert generation.projector.vector.search(vector(1), SearchFilter(tenant="t"), 10) == []


def test_offsets_and_command_positions_are_stored_with_the_data(tmp_path: Path) -> None:
    first = Generation.open(tmp_path, "g1", DIM)
    first.projector.apply_batch([embedded("a", 1, ["fig"], 7)])
    first.close()
    reopened = Generation.open(tmp_path, "g1", DIM)
    assert reopened.projector.state.next_offsets(TOPIC) == {0: 8}
    assert reopened.projector.state.command_positions() == {0: 7}
    assert texts_of(reopened, "fig") == ["fig"]


def vector_texts(generation: Generation, doc: str) -> list[str]:
    hits = generation.projector.vector.search(vector(0), SearchFilter(tenant="t", document_ids=[doc]), 50)
    return sorted(h.chunk.text for h in hits)


def test_two_versions_of_a_new_document_in_one_batch_leave_only_the_second(generation: Generation) -> None:
    # Bulk writes skip the prune for documents new to the index: one written twice in a batch is
    # not new the second time, or the first version's extra chunks would stay.
    generation.projector.apply_batch(
        [embedded("a", 1, ["one melon", "two melons", "three melons"], 0), embedded("a", 2, ["melon v2"], 1)]
    )
    assert texts_of(generation, "melon") == ["melon v2"]
    assert vector_texts(generation, "a") == ["melon v2"]


def test_a_known_document_rewritten_in_a_bulk_batch_loses_its_old_chunks(generation: Generation) -> None:
    generation.projector.apply_batch([embedded("a", 1, ["kiwi one", "kiwi two"], 0)])
    generation.projector.apply_batch([embedded("b", 1, ["lime"], 1), embedded("a", 2, ["kiwi new"], 2)])
    assert vector_texts(generation, "a") == ["kiwi new"]
    assert vector_texts(generation, "b") == ["lime"]


def in_bulk_lane(record: LogRecord) -> LogRecord:
    """The record as the bulk lane writes it (its embeddings carry the lane header)."""
    return replace(record, headers={LANE_HEADER: b"bulk"})


def test_a_bulk_upsert_arriving_after_a_newer_edit_is_skipped_in_both_indexes(
    generation: Generation,
) -> None:
    # Command order: bulk import v1 (offset 3), edit v2 (offset 4); the edit's lane was faster.
    generation.projector.apply_batch([embedded("a", 2, ["edited quince"], 4)])
    result = generation.projector.apply_batch([in_bulk_lane(embedded("a", 1, ["imported quince"], 3))])
    assert result.skipped == 1 and not result.applied
    assert texts_of(generation, "quince") == ["edited quince"]
    assert vector_texts(generation, "a") == ["edited quince"]


def test_a_bulk_upsert_arriving_after_a_delete_does_not_resurrect_the_document(
    generation: Generation,
) -> None:
    generation.projector.apply_batch([embedded("a", 1, ["old guava"], 0)])
    generation.projector.apply_batch([deleted("a", 3, 6)])
    generation.projector.apply_batch([in_bulk_lane(embedded("a", 2, ["imported guava"], 5))])
    assert texts_of(generation, "guava") == []
    assert vector_texts(generation, "a") == []
    assert generation.projector.state.version("t", "a") == 3


def test_each_lane_advances_its_own_read_your_writes_position(generation: Generation) -> None:
    # The edit (command offset 9) is applied before the bulk import written before it (offset 5):
    # the bulk lane's position must not claim offset 9 was reached, nor the edit's claim offset 5.
    generation.projector.apply_batch([embedded("edit", 1, ["pomelo"], 9)])
    assert generation.projector.state.command_positions() == {0: 9}
    generation.projector.apply_batch([in_bulk_lane(embedded("bulk", 1, ["lychee"], 5))])
    assert generation.projector.state.command_positions() == {
        position_key(0, Lane.INTERACTIVE): 9,
        position_key(0, Lane.BULK): 5,
    }
