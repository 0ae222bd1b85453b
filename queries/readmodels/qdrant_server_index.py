"""Vector read model on a Qdrant server (or cluster) through qdrant-client, cosine similarity.

The same payload, point ids and filters as the embedded Qdrant Edge backend, so the two are
interchangeable and a collection can be rebuilt from the embeddings topic by either.

Layout. Searches and writes go through a collection alias (`ragstream-chunks` by default) that
points at one *generation*, a collection named `<alias>-g000001`, ... A rebuild creates the next
generation, replays the embeddings topic into it (a `QdrantServerVectorIndex` opened on the
generation's name), and swaps the alias in one atomic alias update (`CollectionGenerations`).
Every generation gets keyword payload indexes on tenant (`is_tenant`: each tenant's points are
stored together, and the HNSW graph is also built per tenant through `payload_m`), document id, ACL
terms and metadata terms, so every filter is an index lookup inside the search.

Writes wait for the server to apply them (`wait=True`, strong ordering across replicas), so a write
is searchable when the call returns and `flush()` has nothing to do. Version guards live in the
projection, as for the other backends.

`QdrantServerVectorIndex.local(path)` runs the same code against qdrant-client's local mode (an
in-process, pure-Python engine: fine for tests and tiny data, without payload indexes).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragstream.queries.readmodels.base import Hit, IndexedChunk, SearchFilter, VectorIndex, check_chunk_of
from ragstream.queries.readmodels.exceptions import (
    DimensionMismatchError,
    IndexUnavailableError,
    ReadModelError,
)
from ragstream.queries.readmodels.generations import generation_name, generation_number, is_generation
from ragstream.queries.readmodels.lifecycle import ServerIndexLifecycle
from ragstream.queries.readmodels.payload import (
    access_payload,
    checked_vector,
    chunk_from_payload,
    chunk_payload,
    scrolled_chunk_ids,
)
from ragstream.queries.readmodels.qdrant_edge_index import point_id
from ragstream.queries.readmodels.terms import filter_conditions

DEFAULT_ALIAS = "ragstream-chunks"
_SCROLL_PAGE = 256
_LOCAL_INDEX_WARNING = "Payload indexes have no effect in the local Qdrant"
_T = TypeVar("_T")


@dataclass(frozen=True)
class CollectionOptions:
    """Per-generation collection settings."""

    shards: int = 1
    # 1 on a single node; 2 or more on a cluster.
    replication_factor: int = 1
    # Edges per node of the per-tenant graphs built for the `is_tenant` payload index.
    payload_m: int = 16
    on_disk_payload: bool = False


def payload_indexes() -> dict[str, models.PayloadSchemaType | models.KeywordIndexParams]:
    return {
        "tenant": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
        "document_id": models.PayloadSchemaType.KEYWORD,
        "acl": models.PayloadSchemaType.KEYWORD,
        "meta_terms": models.PayloadSchemaType.KEYWORD,
    }


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _match_any(key: str, values: Sequence[str]) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))


def document_filter(tenant: str, document_id: str) -> models.Filter:
    return models.Filter(must=[_match("tenant", tenant), _match("document_id", document_id)])


def search_filter(flt: SearchFilter) -> models.Filter:
    return models.Filter(must=filter_conditions(flt, _match, _match_any, meta_field="meta_terms"))


def _call(what: str, request: Callable[[], _T]) -> _T:
    try:
        return request()
    except (ResponseHandlingException, httpx.TransportError) as exc:
        raise IndexUnavailableError(f"Qdrant is unreachable ({what}): {exc}") from exc
    except UnexpectedResponse as exc:
        raise ReadModelError(f"Qdrant rejected {what}: {exc}") from exc


class CollectionGenerations:
    """Generations of the vector collection behind one alias, for rebuilds without downtime.

    Rebuild: `new = gens.create_next(dimension)`, replay the embeddings topic into
    `QdrantServerVectorIndex(client, new, dimension)`, `gens.swap(new)` (atomic), then `gens.drop(old)`.
    """

    def __init__(
        self, client: QdrantClient, alias: str = DEFAULT_ALIAS, options: CollectionOptions | None = None
    ) -> None:
        self.client = client
        self.alias = alias
        self.options = options or CollectionOptions()

    def generations(self) -> list[str]:
        """Existing generations, oldest first."""
        names = [c.name for c in _call("list collections", self.client.get_collections).collections]
        numbered = sorted((generation_number(self.alias, name), name) for name in names)
        return [name for number, name in numbered if number is not None]

    def current(self) -> str | None:
        """The collection the alias points to, if the alias exists."""
        for alias in _call("list aliases", self.client.get_aliases).aliases:
            if alias.alias_name == self.alias:
                return alias.collection_name
        return None

    def create(self, name: str, dimension: int) -> None:
        self.client.create_collection(
            collection_name=name,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            shard_number=self.options.shards,
            replication_factor=self.options.replication_factor,
            on_disk_payload=self.options.on_disk_payload,
            hnsw_config=models.HnswConfigDiff(payload_m=self.options.payload_m),
        )
        with warnings.catch_warnings():
            # qdrant-client's local mode accepts payload indexes but does not use them.
            warnings.filterwarnings("ignore", message=_LOCAL_INDEX_WARNING)
            for field, schema in payload_indexes().items():
                self.client.create_payload_index(name, field, field_schema=schema, wait=True)

    def create_next(self, dimension: int) -> str:
        existing = [generation_number(self.alias, name) or 0 for name in self.generations()]
        name = generation_name(self.alias, max(existing, default=0) + 1)
        _call(f"create collection {name}", lambda: self.create(name, dimension))
        return name

    def swap(self, generation: str) -> str | None:
        """Point the alias at `generation`, atomically; returns the generation it left."""
        if generation_number(self.alias, generation) is None:
            raise ValueError(f"{generation!r} is not a generation of {self.alias!r}")
        previous = self.current()
        operations: list[models.CreateAliasOperation | models.DeleteAliasOperation] = []
        if previous is not None:
            operations.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias))
            )
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=generation, alias_name=self.alias)
            )
        )
        _call(
            f"alias swap to {generation}",
            lambda: self.client.update_collection_aliases(change_aliases_operations=operations),
        )
        return previous if previous != generation else None

    def drop(self, generation: str) -> None:
        if generation_number(self.alias, generation) is None:
            raise ValueError(f"{generation!r} is not a generation of {self.alias!r}")
        if generation == self.current():
            raise ValueError(f"{generation} is what {self.alias} points to; swap to another generation first")
        _call(f"delete collection {generation}", lambda: self.client.delete_collection(generation))

    def bootstrap(self, dimension: int) -> str:
        """Make sure the alias exists, creating the first generation behind it when it does not."""
        current = self.current()
        if current is not None:
            return current
        name = generation_name(self.alias, 1)
        if name not in self.generations():
            _call(f"create collection {name}", lambda: self.create(name, dimension))
        self.swap(name)
        return name


class QdrantServerVectorIndex(ServerIndexLifecycle[QdrantClient], VectorIndex):
    """`VectorIndex` on a Qdrant server collection (through its alias) with one unnamed dense vector."""

    def __init__(
        self,
        client: QdrantClient,
        name: str = DEFAULT_ALIAS,
        dimension: int = 384,
        *,
        options: CollectionOptions | None = None,
        owns_client: bool = False,
    ) -> None:
        if dimension <= 0:
            raise ValueError(f"dimension must be positive, got {dimension}")
        super().__init__(client, name, f"vector index {name!r}", owns_client=owns_client)
        self.dimension = dimension
        self._open_owning(lambda: self._open(options or CollectionOptions()))

    @classmethod
    def connect(
        cls,
        url: str,
        name: str = DEFAULT_ALIAS,
        dimension: int = 384,
        *,
        api_key: str = "",
        timeout_s: float = 30.0,
        prefer_grpc: bool = False,
        options: CollectionOptions | None = None,
    ) -> QdrantServerVectorIndex:
        client = QdrantClient(
            url=url, api_key=api_key or None, timeout=math.ceil(timeout_s), prefer_grpc=prefer_grpc
        )
        return cls(client, name, dimension, options=options, owns_client=True)

    @classmethod
    def local(
        cls, path: Path | None, name: str = DEFAULT_ALIAS, dimension: int = 384
    ) -> QdrantServerVectorIndex:
        """qdrant-client's local mode: in memory (`path=None`) or persisted in a folder."""
        client = QdrantClient(location=":memory:") if path is None else QdrantClient(path=str(path))
        return cls(client, name, dimension, owns_client=True)

    def _open(self, options: CollectionOptions) -> None:
        generations = CollectionGenerations(self.client, self.name, options)
        collections = {c.name for c in _call("list collections", self.client.get_collections).collections}
        if is_generation(self.name):
            # A generation opened directly (a rebuild in progress): it must exist already.
            if self.name not in collections:
                raise IndexUnavailableError(f"generation {self.name} does not exist; create it first")
            collection = self.name
        elif self.name in collections:
            collection = self.name  # A plain collection created outside ragstream: used as it is.
        else:
            collection = generations.bootstrap(self.dimension)
        self._check_dimension(collection)

    def _check_dimension(self, collection: str) -> None:
        info = _call(f"collection {collection}", lambda: self.client.get_collection(collection))
        vectors = info.config.params.vectors
        if not isinstance(vectors, models.VectorParams):
            raise IndexUnavailableError(
                f"collection {collection} has named vectors {sorted(vectors or {})}; expected one unnamed vector"
            )
        if vectors.size != self.dimension:
            raise DimensionMismatchError(
                f"vector collection {collection} holds {vectors.size}-dimensional vectors, "
                f"but this instance was configured for {self.dimension}"
            )
        if vectors.distance != models.Distance.COSINE:
            raise IndexUnavailableError(
                f"collection {collection} uses {vectors.distance} distance, not cosine"
            )

    # -- writes ---------------------------------------------------------------------------------

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        # Every vector is checked before anything is written.
        points = [self._to_point(tenant, document_id, chunk) for chunk in chunks]
        keep: list[models.ExtendedPointId] = [point_id(tenant, chunk.chunk_id) for chunk in chunks]
        prune = models.Filter(
            must=[_match("tenant", tenant), _match("document_id", document_id)],
            must_not=[models.HasIdCondition(has_id=keep)] if keep else None,
        )
        with self._lock:
            self._check_open()
            # Upsert first, then prune what the new version no longer has: never a moment with the
            # document missing, and a redelivery leaves one copy (point ids are deterministic).
            if points:
                _call(
                    f"upsert into {self.name}",
                    lambda: self.client.upsert(
                        self.name, points=points, wait=True, ordering=models.WriteOrdering.STRONG
                    ),
                )
            _call(
                f"delete from {self.name}",
                lambda: self.client.delete(
                    self.name,
                    points_selector=models.FilterSelector(filter=prune),
                    wait=True,
                    ordering=models.WriteOrdering.STRONG,
                ),
            )

    def update_access(
        self, tenant: str, document_id: str, metadata: Mapping[str, str], acl: Sequence[str]
    ) -> None:
        with self._lock:
            self._check_open()
            # set_payload replaces the named top-level keys only: text and vectors stay untouched.
            _call(
                f"set payload in {self.name}",
                lambda: self.client.set_payload(
                    self.name,
                    payload=access_payload(metadata, acl),
                    points=document_filter(tenant, document_id),
                    wait=True,
                    ordering=models.WriteOrdering.STRONG,
                ),
            )

    def flush(self) -> None:
        """Nothing to do: every write was applied (and logged by the server) when it returned."""
        self._check_open()

    # -- reads ----------------------------------------------------------------------------------

    def search(self, vector: Sequence[float], flt: SearchFilter, limit: int) -> list[Hit]:
        query = checked_vector(vector, self.dimension, "query vector")
        self._check_open()
        if limit <= 0 or (flt.document_ids is not None and not flt.document_ids):
            return []
        response = _call(
            f"search in {self.name}",
            lambda: self.client.query_points(
                self.name, query=query, query_filter=search_filter(flt), limit=limit, with_payload=True
            ),
        )
        return [Hit(chunk_from_payload(point.payload or {}), float(point.score)) for point in response.points]

    def chunk_ids(self, tenant: str, document_id: str) -> list[str]:
        self._check_open()
        return scrolled_chunk_ids(partial(self._scroll, document_filter(tenant, document_id)))

    def count(self) -> int:
        self._check_open()
        return _call(f"count {self.name}", lambda: self.client.count(self.name, exact=True)).count

    # -- helpers --------------------------------------------------------------------------------

    def _scroll(
        self, flt: models.Filter, offset: models.ExtendedPointId | None
    ) -> tuple[list[models.Record], models.ExtendedPointId | None]:
        records, next_offset = _call(
            f"scroll {self.name}",
            lambda: self.client.scroll(
                self.name, scroll_filter=flt, limit=_SCROLL_PAGE, offset=offset, with_payload=True
            ),
        )
        return records, next_offset

    def _to_point(self, tenant: str, document_id: str, chunk: IndexedChunk) -> models.PointStruct:
        check_chunk_of(chunk, tenant, document_id)
        vector = checked_vector(chunk.vector, self.dimension, f"vector of chunk {chunk.chunk_id}")
        return models.PointStruct(
            id=point_id(tenant, chunk.chunk_id), vector=vector, payload=chunk_payload(chunk)
        )
