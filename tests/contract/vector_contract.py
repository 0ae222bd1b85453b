"""Contract of every `VectorIndex` backend: subclass `VectorIndexContract` and implement
`make_index`. Vectors are hand-made unit vectors, one axis per topic: no embedding model."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from ragstream.queries.readmodels.base import Hit, IndexedChunk, SearchFilter, SearchIndex, VectorIndex
from ragstream.queries.readmodels.exceptions import DimensionMismatchError
from tests.contract.factory import DIMENSION, basis, hit_ids, make_chunk
from tests.contract.search_contract import TENANT, TOPICS, SearchIndexContract

pytestmark = pytest.mark.contract


def topic_vector(topic: str, *, weak: bool = False) -> list[float]:
    axis = TOPICS.index(topic)
    # Leaning towards the next axis lowers the cosine to the topic from 1.0 to about 0.45.
    return basis(axis, lean=(axis + 1) % DIMENSION, weight=2.0) if weak else basis(axis)


class VectorIndexContract(SearchIndexContract):
    @abstractmethod
    def make_index(self, path: Path, dimension: int) -> VectorIndex:
        """Open (creating if needed) an index of `dimension`-dimensional vectors under `path`."""

    # -- SearchIndexContract hooks ---------------------------------------------------------------

    def open_index(self, path: Path) -> SearchIndex:
        return self.make_index(path, DIMENSION)

    def chunk(
        self,
        document_id: str,
        chunk_number: int,
        topic: str,
        *,
        weak: bool = False,
        tenant: str = TENANT,
        version: int = 1,
        metadata: Mapping[str, str] | None = None,
        acl: Sequence[str] = (),
    ) -> IndexedChunk:
        return make_chunk(
            document_id,
            chunk_number,
            f"{'a passing mention of' if weak else 'all about'} {topic}",
            tenant=tenant,
            version=version,
            title=f"Chapter {chunk_number}",
            metadata=metadata,
            acl=acl,
            vector=topic_vector(topic, weak=weak),
        )

    def find(self, index: SearchIndex, topic: str, flt: SearchFilter, limit: int = 100) -> list[Hit]:
        assert isinstance(index, VectorIndex)
        return index.search(topic_vector(topic), flt, limit)

    # -- vector-specific behaviour ---------------------------------------------------------------

    def test_implements_the_protocol(self, index: SearchIndex) -> None:
        assert isinstance(index, VectorIndex)
        assert index.dimension == DIMENSION

    def test_nearest_vector_ranks_first(self, index: SearchIndex) -> None:
        chunks = [self.chunk(f"doc-{topic}", 0, topic) for topic in TOPICS[:4]]
        self.put(index, *chunks)
        assert isinstance(index, VectorIndex)

        for chunk in chunks:
            assert chunk.vector is not None
            # Scale must not matter for cosine similarity.
            query = [2.5 * value for value in chunk.vector]
            hits = index.search(query, SearchFilter(TENANT), limit=4)
            assert hit_ids(hits)[0] == chunk.chunk_id
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)
            assert all(hit.score < 0.5 for hit in hits[1:])

    def test_replace_updates_the_vector(self, index: SearchIndex) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"))
        self.put(index, self.chunk("doc-1", 0, "bananas"))

        [hit] = self.find(index, "bananas", SearchFilter(TENANT))
        assert hit.score == pytest.approx(1.0, abs=1e-4)

    def test_reopening_with_another_dimension_raises(self, index: SearchIndex, index_path: Path) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"))
        index.close()

        with pytest.raises(DimensionMismatchError, match=str(DIMENSION)):
            self.make_index(index_path, DIMENSION * 2)
        # The failed open left the index usable with the right dimension.
        reopened = self.make_index(index_path, DIMENSION)
        try:
            assert reopened.count() == 1
        finally:
            reopened.close()

    @pytest.mark.parametrize("size", [DIMENSION - 1, DIMENSION + 1, 0])
    def test_query_of_another_dimension_raises(self, index: SearchIndex, size: int) -> None:
        assert isinstance(index, VectorIndex)

        with pytest.raises(DimensionMismatchError):
            index.search([1.0] * size, SearchFilter(TENANT), limit=5)

    def test_chunk_of_another_dimension_is_rejected_and_nothing_is_written(self, index: SearchIndex) -> None:
        good = self.chunk("doc-1", 0, "apples")
        bad = make_chunk("doc-1", 1, "too short", vector=[1.0] * (DIMENSION - 1))

        with pytest.raises(DimensionMismatchError):
            index.replace_document(TENANT, "doc-1", [good, bad])
        index.flush()
        assert index.count() == 0

    def test_chunk_without_vector_is_rejected(self, index: SearchIndex) -> None:
        with pytest.raises(ValueError, match="vector"):
            index.replace_document(TENANT, "doc-1", [make_chunk("doc-1", 0, "no embedding")])
