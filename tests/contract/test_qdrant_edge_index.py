"""The vector contract against Qdrant Edge, plus what only this backend promises."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ragstream.queries.readmodels.base import (
    DocumentChunks,
    IndexedChunk,
    SearchFilter,
    SearchIndex,
    VectorIndex,
)
from ragstream.queries.readmodels.exceptions import IndexLockedError, ReadModelError
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex, point_id
from tests.contract.factory import DIMENSION, hit_ids, make_chunk
from tests.contract.search_contract import TENANT
from tests.contract.vector_contract import VectorIndexContract, topic_vector

pytestmark = pytest.mark.contract


class TestQdrantEdgeVectorIndex(VectorIndexContract):
    def make_index(self, path: Path, dimension: int) -> VectorIndex:
        return QdrantEdgeVectorIndex(path, dimension)

    def test_writes_are_searchable_without_flush(self, index: SearchIndex) -> None:
        chunk = self.chunk("doc-1", 0, "apples")
        index.replace_document(TENANT, "doc-1", [chunk])

        assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == [chunk.chunk_id]

    def test_optimize_keeps_results_and_filters(self, index: SearchIndex) -> None:
        assert isinstance(index, QdrantEdgeVectorIndex)
        self.put(index, *(self.chunk(f"doc-{n}", 0, "apples", acl=["user:alice"]) for n in range(50)))
        wanted = self.chunk("public", 0, "apples", weak=True)
        self.put(index, wanted)

        index.optimize()

        hits = index.search(topic_vector("apples"), SearchFilter(TENANT, principals=["user:bob"]), limit=1)
        assert hit_ids(hits) == [wanted.chunk_id]
        assert index.count() == 51

    def test_optimize_leaves_no_replaced_segment_behind(self, tmp_path: Path) -> None:
        # Enough 384-dimensional points to pass qdrant's indexing threshold, so optimize builds a new
        # segment and retires the one it replaced; that one must leave disk (and memory) at once,
        # not at some later flush or close: a live index is optimized again and again.
        dimension = 384
        rng = random.Random(7)
        with QdrantEdgeVectorIndex(tmp_path / "vectors", dimension) as index:
            for first in range(0, 7_000, 500):
                index.replace_documents(
                    [
                        DocumentChunks(
                            TENANT, f"doc-{n}", [_random_chunk(f"doc-{n}", rng, dimension)], new=True
                        )
                        for n in range(first, first + 500)
                    ]
                )
            assert index.optimize()

            on_disk = [p for p in (tmp_path / "vectors" / "segments").iterdir() if p.is_dir()]
            assert len(on_disk) == index._require_open().info().segments_count
            assert index.count() == 7_000

    def test_second_open_of_the_same_shard_fails_clearly(self, index: SearchIndex, index_path: Path) -> None:
        with pytest.raises(IndexLockedError):
            QdrantEdgeVectorIndex(index_path, DIMENSION)

    def test_use_after_close_raises(self, index: SearchIndex) -> None:
        index.close()
        with pytest.raises(ReadModelError):
            index.count()

    def test_point_ids_are_deterministic_and_tenant_scoped(self) -> None:
        assert point_id("acme", "doc#v1#c0") == point_id("acme", "doc#v1#c0")
        assert point_id("acme", "doc#v1#c0") != point_id("globex", "doc#v1#c0")


def _random_chunk(document_id: str, rng: random.Random, dimension: int) -> IndexedChunk:
    return make_chunk(
        document_id, 0, "text", tenant=TENANT, vector=[rng.gauss(0, 1) for _ in range(dimension)]
    )
