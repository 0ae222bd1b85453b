"""The vector contract against the Qdrant server adapter, twice:

- `TestQdrantLocalMode`: qdrant-client's local mode (persisted in the test's folder). Always runs, so
  the adapter's own code (payloads, filters, aliases, generations) is exercised for real.
- `TestQdrantServer`: a real Qdrant server, when RAGSTREAM_QDRANT__URL points at one (with
  RAGSTREAM_QDRANT__API_KEY if it needs a key). No Qdrant server can be installed from the package
  registries this project uses, so it skips otherwise. Collections and aliases it creates carry a
  per-session prefix and are deleted at the end.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ragstream.queries.readmodels.base import SearchFilter, SearchIndex, VectorIndex
from ragstream.queries.readmodels.exceptions import IndexUnavailableError, ReadModelError
from ragstream.queries.readmodels.qdrant_edge_index import point_id
from ragstream.queries.readmodels.qdrant_server_index import (
    CollectionGenerations,
    QdrantServerVectorIndex,
    generation_name,
)
from tests.contract.factory import DIMENSION, hit_ids
from tests.contract.search_contract import TENANT
from tests.contract.vector_contract import VectorIndexContract

pytestmark = pytest.mark.contract

PREFIX = f"ragstream-contract-{uuid.uuid4().hex[:8]}"
ALIAS = "chunks"


class _QdrantServerAdapterBehaviour(VectorIndexContract):
    """Checks beyond the contract that hold wherever the adapter runs."""

    def alias(self, path: Path) -> str:
        raise NotImplementedError

    def client(self, index: SearchIndex) -> QdrantClient:
        assert isinstance(index, QdrantServerVectorIndex)
        return index.client

    def test_writes_are_searchable_without_flush(self, index: SearchIndex) -> None:
        chunk = self.chunk("doc-1", 0, "apples")
        index.replace_document(TENANT, "doc-1", [chunk])

        assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == [chunk.chunk_id]

    def test_point_ids_match_the_embedded_backend(self, index: SearchIndex) -> None:
        chunk = self.chunk("doc-1", 0, "apples")
        self.put(index, chunk)
        assert isinstance(index, QdrantServerVectorIndex)

        [record] = self.client(index).retrieve(index.name, ids=[point_id(TENANT, chunk.chunk_id)])
        assert record.payload is not None
        assert record.payload["chunk_id"] == chunk.chunk_id

    def test_the_alias_points_at_the_first_generation(self, index: SearchIndex, index_path: Path) -> None:
        alias = self.alias(index_path)
        generations = CollectionGenerations(self.client(index), alias)

        assert generations.current() == generation_name(alias, 1)
        assert generations.generations() == [generation_name(alias, 1)]

    def test_rebuild_into_a_new_generation_and_swap(self, index: SearchIndex, index_path: Path) -> None:
        alias = self.alias(index_path)
        client = self.client(index)
        self.put(index, self.chunk("doc-old", 0, "apples"))
        generations = CollectionGenerations(client, alias)
        first = generations.current()

        fresh = generations.create_next(DIMENSION)
        assert fresh == generation_name(alias, 2)
        rebuilt = QdrantServerVectorIndex(client, fresh, DIMENSION)
        self.put(rebuilt, self.chunk("doc-new", 0, "apples"))
        assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == ["doc-old#v1#c0"]

        assert generations.swap(fresh) == first
        assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == ["doc-new#v1#c0"]
        with pytest.raises(ValueError, match="swap"):
            generations.drop(fresh)
        assert first is not None
        generations.drop(first)
        assert generations.generations() == [fresh]
        self.put(index, self.chunk("doc-after", 0, "apples"))
        assert rebuilt.count() == 2

    def test_a_missing_generation_is_not_created_implicitly(
        self, index: SearchIndex, index_path: Path
    ) -> None:
        with pytest.raises(IndexUnavailableError, match="create it first"):
            QdrantServerVectorIndex(self.client(index), generation_name(self.alias(index_path), 9), DIMENSION)

    def test_use_after_close_raises(self, index: SearchIndex) -> None:
        index.close()
        with pytest.raises(ReadModelError):
            index.count()


class TestQdrantLocalMode(_QdrantServerAdapterBehaviour):
    def alias(self, path: Path) -> str:
        return ALIAS

    def make_index(self, path: Path, dimension: int) -> VectorIndex:
        return QdrantServerVectorIndex.local(path, ALIAS, dimension)

    def client(self, index: SearchIndex) -> QdrantClient:
        # Local mode locks its folder: share the index's own client.
        return super().client(index)


# -- a real server ---------------------------------------------------------------------------------


@functools.cache
def _probe() -> tuple[QdrantClient | None, str]:
    url = os.environ.get("RAGSTREAM_QDRANT__URL", "")
    if not url:
        return None, "no Qdrant server configured: set RAGSTREAM_QDRANT__URL (and RAGSTREAM_QDRANT__API_KEY)"
    client = QdrantClient(url=url, api_key=os.environ.get("RAGSTREAM_QDRANT__API_KEY") or None, timeout=10)
    try:
        client.get_collections()
    except Exception as exc:
        client.close()
        return None, f"no Qdrant server reachable at {url} ({type(exc).__name__}: {exc})"
    return client, url


def server() -> QdrantClient:
    client, reason = _probe()
    if client is None:
        pytest.skip(reason)
    return client


def alias_for(path: Path) -> str:
    return f"{PREFIX}-{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    client, _ = _probe()
    if client is None:
        return
    for alias in client.get_aliases().aliases:
        if alias.alias_name.startswith(PREFIX):
            client.delete_collection(alias.collection_name)
    for collection in client.get_collections().collections:
        if collection.name.startswith(PREFIX):
            client.delete_collection(collection.name)


class TestQdrantServer(_QdrantServerAdapterBehaviour):
    def alias(self, path: Path) -> str:
        return alias_for(path)

    def make_index(self, path: Path, dimension: int) -> VectorIndex:
        return QdrantServerVectorIndex(server(), alias_for(path), dimension)

    def test_payload_indexes_exist(self, index: SearchIndex) -> None:
        assert isinstance(index, QdrantServerVectorIndex)
        schema = server().get_collection(index.name).payload_schema
        assert {"tenant", "document_id", "acl", "meta_terms"} <= set(schema)
