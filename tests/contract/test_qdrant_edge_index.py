"""The vector contract against Qdrant Edge, plus what only this backend promises."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
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

    def test_filtered_searches_find_the_exact_nearest_neighbours(self, tmp_path: Path) -> None:
        # Past qdrant's full-scan threshold a filtered search walks the HNSW graph, which loses
        # neighbours under a filter (a fifth of the exact top 10 on real vectors with a metadata
        # filter, at qdrant's defaults). Vectors with few latent dimensions, like real embeddings.
        rng = np.random.default_rng(11)
        basis = rng.standard_normal((64, 384)).astype(np.float32)

        def vectors(n: int) -> np.ndarray:
            v = rng.standard_normal((n, 64)).astype(np.float32) @ basis
            v += 0.3 * rng.standard_normal((n, 384)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        points, queries = vectors(16_000), vectors(40)
        source = np.where(rng.random(len(points)) < 0.45, "a", "b")
        acl = np.where(rng.random(len(points)) < 0.7, "", "group:y")

        def document(n: int) -> DocumentChunks:
            access = [str(acl[n])] if acl[n] else []
            chunk = make_chunk(f"d{n}", 0, "t", tenant=TENANT, metadata={"source": str(source[n])},
                               acl=access, vector=points[n].tolist())  # fmt: skip
            return DocumentChunks(TENANT, f"d{n}", [chunk], new=True)

        with QdrantEdgeVectorIndex(tmp_path / "vectors", 384) as index:
            for first in range(0, len(points), 1000):
                index.replace_documents([document(n) for n in range(first, first + 1000)])
            assert index.optimize()
            # (A tenant alone keeps the whole shard here: plain HNSW, qdrant's own recall.)
            cases = [
                (SearchFilter(TENANT, principals=["group:x"]), acl == ""),
                (SearchFilter(TENANT, metadata={"source": "a"}), source == "a"),
            ]
            for flt, visible in cases:
                candidates = np.flatnonzero(visible)
                found = 0
                for q in queries:
                    exact = {f"d{n}" for n in candidates[np.argsort(-(points[candidates] @ q))[:10]]}
                    # 50: the query service's candidate depth; its best ten are the ones that count.
                    hits = index.search(q.tolist(), flt, 50)[:10]
                    found += len(exact & {h.chunk.document_id for h in hits})
                    # The graph is walked on int8 vectors; what fusion gets is the exact cosine.
                    cosine = [float(points[int(h.chunk.document_id[1:])] @ q) for h in hits]
                    assert [h.score for h in hits] == pytest.approx(cosine, abs=1e-5)
                assert found / (10 * len(queries)) >= 0.98, (flt, found)

    def test_an_index_built_before_int8_vectors_opens_and_grows(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Indexes written before the graph moved to int8 vectors hold float32 segments only: this
        # version opens them, searches them, and optimizes them (qdrant converts the segments then),
        # with exact scores throughout.
        dimension = 384
        rng = np.random.default_rng(3)
        points = rng.standard_normal((8_000, dimension)).astype(np.float32)
        points /= np.linalg.norm(points, axis=1, keepdims=True)

        def put(index: QdrantEdgeVectorIndex, numbers: range) -> None:
            chunks = [make_chunk(f"d{n}", 0, "t", tenant=TENANT, vector=points[n].tolist()) for n in numbers]
            index.replace_documents([DocumentChunks(TENANT, c.document_id, [c], new=True) for c in chunks])

        def check(index: QdrantEdgeVectorIndex, count: int) -> None:
            query = points[1]
            hits = index.search(query.tolist(), SearchFilter(TENANT), 5)
            assert hits[0].chunk.document_id == "d1"
            cosine = [float(points[int(h.chunk.document_id[1:])] @ query) for h in hits]
            assert [h.score for h in hits] == pytest.approx(cosine, abs=1e-5)
            assert index.count() == count

        with monkeypatch.context() as old_version:
            old_version.setattr("ragstream.queries.readmodels.qdrant_edge_index._QUANTIZATION", None)
            with QdrantEdgeVectorIndex(tmp_path / "vectors", dimension) as index:
                put(index, range(7_000))
                assert index.optimize()
        with QdrantEdgeVectorIndex(tmp_path / "vectors", dimension) as index:
            check(index, 7_000)
            put(index, range(7_000, 8_000))
            assert index.optimize()
            check(index, 8_000)

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
