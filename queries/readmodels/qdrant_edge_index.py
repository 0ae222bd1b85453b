"""Vector read model on an embedded Qdrant Edge shard (cosine similarity).

The shard is single-process: qdrant-edge locks its write-ahead log, so a second `EdgeShard.load`
of the same directory fails, even read-only and even from the same process. Every update is
applied (and logged in the WAL) when the call returns, so searches see it without a flush.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import qdrant_edge as qe

from ragstream.queries.readmodels.base import (
    DocumentChunks,
    Hit,
    IndexedChunk,
    SearchFilter,
    VectorIndex,
    check_chunk_of,
)
from ragstream.queries.readmodels.exceptions import (
    DimensionMismatchError,
    IndexLockedError,
    IndexUnavailableError,
)
from ragstream.queries.readmodels.lifecycle import IndexLifecycle
from ragstream.queries.readmodels.payload import (
    access_payload,
    checked_vector,
    chunk_from_payload,
    chunk_payload,
    scrolled_chunk_ids,
)
from ragstream.queries.readmodels.terms import filter_conditions, scoped_key

# Fixed forever: point ids are derived from it, so changing it orphans every stored point.
POINT_NAMESPACE = uuid.UUID("6f1c1f0e-2b7a-5d3e-9a43-1c2f5b8e7d10")
_CONFIG_FILE = "edge_config.json"
_SCROLL_PAGE = 256
# Points per update call of a bulk write (see replace_documents).
UPSERT_SLICE = 1000
ACORN_MAX_SELECTIVITY = 0.8
RESCORE_OVERSAMPLING = 2.0
_INDEXED_FIELDS: dict[str, qe.PayloadSchemaType | qe.KeywordIndexParams] = {
    # is_tenant co-locates each tenant's points, so the tenant condition in every search is cheap.
    "tenant": qe.KeywordIndexParams(is_tenant=True),
    "document_id": qe.PayloadSchemaType.Keyword,
    "acl": qe.PayloadSchemaType.Keyword,
    "meta_terms": qe.PayloadSchemaType.Keyword,
}
# The HNSW graph is built and walked on int8 copies of the vectors (a quarter of their size, kept
# in RAM), and each search's results are rescored with the float32 originals, so scores and order
# are exact cosine. Building the graph takes 2.2-2.6x less time (random vectors, 50k and 100k) and
# searches find what they found (BENCHMARKS.md, "HNSW on int8 vectors"). An index created without
# it is converted at its next optimization (qdrant rebuilds the segments whose configuration
# differs).
_QUANTIZATION = qe.ScalarQuantizationConfig(qe.ScalarType.Int8, always_ram=True)


def point_id(tenant: str, chunk_id: str) -> str:
    """Deterministic point id, so redelivery overwrites. Includes the tenant: the same document id
    (hence chunk id) may exist in two tenants, which must not share points."""
    return str(uuid.uuid5(POINT_NAMESPACE, scoped_key(tenant, chunk_id)))


def _match(key: str, value: str) -> qe.FieldCondition:
    return qe.FieldCondition(key, match=qe.MatchValue(value))


def _match_any(key: str, values: Sequence[str]) -> qe.FieldCondition:
    return qe.FieldCondition(key, match=qe.MatchAny(list(values)))


def _prune_filter(tenant: str, document_id: str, keep: set[qe.PointId]) -> qe.Filter:
    """The document's points other than `keep`."""
    return qe.Filter(
        must=[_match("tenant", tenant), _match("document_id", document_id)],
        must_not=[qe.HasIdCondition(keep)] if keep else None,
    )


def _search_params(limit: int) -> qe.SearchParams:
    # ACORN (qdrant's filtered traversal, which also walks the neighbours of rejected neighbours)
    # where a filter keeps at most ACORN_MAX_SELECTIVITY of the shard's points. On 39,016 real
    # vectors (`ragstream bench filtered`, two builds) plain HNSW found 65-81% of the exact top 10
    # under a tenant and metadata filter and 91-96.5% under tenant and ACL; ACORN found 99.95-100%,
    # for 1.3-2.6 ms more per search there. 0.8 so that an ACL filter in a one-tenant shard where most
    # chunks are public still gets it; a filter that keeps more (one tenant alone, every benchmark
    # and evaluation) lost about 1% with plain HNSW, and ACORN would double every such search.
    # Rescoring: without it the results come in the order (and with the scores) of the int8
    # vectors, which lost 5% of the exact top 10 on clustered vectors; fusion needs exact scores.
    # Twice `limit` int8 candidates are rescored: with `limit` alone, 1.5% of the exact top 10 and
    # 3% of the top 100 were lost on 23,262 real vectors (the float32 graph: 0% and 2.3%); with
    # twice as many, 0% and 0.5%, at the speed of the float32 graph for the query service's 50.
    return qe.SearchParams(
        acorn=qe.AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY),
        quantization=qe.QuantizationSearchParams(rescore=True, oversampling=RESCORE_OVERSAMPLING),
    )


def _document_filter(tenant: str, document_id: str) -> qe.Filter:
    return qe.Filter(must=[_match("tenant", tenant), _match("document_id", document_id)])


class QdrantEdgeVectorIndex(IndexLifecycle, VectorIndex):
    """`VectorIndex` on a Qdrant Edge shard with one unnamed dense vector."""

    def __init__(self, path: Path, dimension: int) -> None:
        if dimension <= 0:
            raise ValueError(f"dimension must be positive, got {dimension}")
        super().__init__(f"vector index at {path}")
        self.path = path
        self.dimension = dimension
        # How hard a search works for `limit` results (None: qdrant's own defaults, which
        # `bench filtered` compares against).
        self.search_params: Callable[[int], qe.SearchParams | None] = _search_params
        self._shard = self._open_shard()
        self._ensure_payload_indexes()

    def _open_shard(self) -> qe.EdgeShard:
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine),
            quantization_config=_QUANTIZATION,
        )
        config_file = self.path / _CONFIG_FILE
        if not config_file.exists():
            try:
                return qe.EdgeShard.create(str(self.path), config)
            except Exception as exc:
                raise IndexUnavailableError(f"cannot create vector index at {self.path}: {exc}") from exc
        self._check_stored_dimension(config_file)
        try:
            # Passing the config makes qdrant validate it against the existing segments too.
            return qe.EdgeShard.load(str(self.path), config)
        except Exception as exc:
            message = str(exc)
            if "WouldBlock" in message:
                raise IndexLockedError(
                    f"vector index at {self.path} is open elsewhere (qdrant-edge is single-process): {exc}"
                ) from exc
            raise IndexUnavailableError(f"cannot load vector index at {self.path}: {exc}") from exc

    def _check_stored_dimension(self, config_file: Path) -> None:
        # qdrant's own incompatibility error is generic; read the persisted config for a precise one.
        try:
            stored = json.loads(config_file.read_text())["vectors"][""]["size"]
        except (OSError, ValueError, KeyError, TypeError):
            return  # Unknown layout: leave the check to EdgeShard.load.
        if stored != self.dimension:
            raise DimensionMismatchError(
                f"vector index at {self.path} holds {stored}-dimensional vectors, "
                f"but this instance was configured for {self.dimension}"
            )

    def _ensure_payload_indexes(self) -> None:
        existing = self._shard.info().payload_schema
        for field, schema in _INDEXED_FIELDS.items():
            if field not in existing:
                self._shard.update(qe.UpdateOperation.create_field_index(field, schema))

    # -- writes ---------------------------------------------------------------------------------

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        ids = [point_id(tenant, chunk.chunk_id) for chunk in chunks]
        points = [self._to_point(tenant, document_id, c, pid) for c, pid in zip(chunks, ids, strict=True)]
        # Upsert first, then prune the chunks that are not in the new set: qdrant-edge has no
        # multi-operation transaction, and this order never leaves the document missing.
        prune = _prune_filter(tenant, document_id, set(ids))
        with self._lock:
            shard = self._require_open()
            if points:
                shard.update(qe.UpdateOperation.upsert_points(points))
            shard.update(qe.UpdateOperation.delete_points_by_filter(prune))

    def replace_documents(self, documents: Sequence[DocumentChunks]) -> None:
        """One upsert for the points of all the documents, then a prune for each document that had
        earlier versions (a new one has nothing to prune): a rebuild's bulk write. The documents
        are distinct, so no prune can remove another document's new points."""
        points: list[qe.Point] = []
        prunes: list[qe.Filter] = []
        for doc in documents:
            ids = [point_id(doc.tenant, chunk.chunk_id) for chunk in doc.chunks]
            points += [
                self._to_point(doc.tenant, doc.document_id, chunk, pid)
                for chunk, pid in zip(doc.chunks, ids, strict=True)
            ]
            if not doc.new:
                prunes.append(_prune_filter(doc.tenant, doc.document_id, set(ids)))
        with self._lock:
            shard = self._require_open()
            # In slices: an update holds the GIL throughout, and one of a rebuild's 27,000 points
            # held the query API's event loop for half a second.
            for first in range(0, len(points), UPSERT_SLICE):
                shard.update(qe.UpdateOperation.upsert_points(points[first : first + UPSERT_SLICE]))
            for prune in prunes:
                shard.update(qe.UpdateOperation.delete_points_by_filter(prune))

    def update_access(
        self, tenant: str, document_id: str, metadata: Mapping[str, str], acl: Sequence[str]
    ) -> None:
        with self._lock:
            # set_payload replaces the named top-level keys only: text and vectors stay untouched.
            operation = qe.UpdateOperation.set_payload_by_filter(
                _document_filter(tenant, document_id), access_payload(metadata, acl)
            )
            self._require_open().update(operation)

    def flush(self) -> None:
        with self._lock:
            self._require_open().flush()

    def optimize(self) -> bool:
        """Merge segments and build the HNSW index. Blocking and expensive: call from a scheduler,
        never on the ingest path. Returns whether anything changed."""
        with self._lock:
            shard = self._require_open()
            changed = shard.optimize()
            if changed:
                # qdrant-edge 0.9.0 keeps the segments an optimization replaced, on disk and mapped,
                # until the next flush: a live index optimized every few thousand points grew by a
                # full copy of its vectors and payloads each time (the query API at 100k chunks held
                # ~500 MiB more; BENCHMARKS.md, "Memory").
                shard.flush()
            return changed

    def _release(self) -> None:
        self._shard.flush()
        self._shard.close()

    # -- reads ----------------------------------------------------------------------------------

    def search(self, vector: Sequence[float], flt: SearchFilter, limit: int) -> list[Hit]:
        query_vector = checked_vector(vector, self.dimension, "query vector")
        if limit <= 0 or (flt.document_ids is not None and not flt.document_ids):
            return []
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(query_vector),
            filter=self._search_filter(flt),
            with_payload=True,
            params=self.search_params(limit),
        )
        points = self._require_open().query(request)
        return [Hit(chunk_from_payload(point.payload or {}), float(point.score)) for point in points]

    def chunk_ids(self, tenant: str, document_id: str) -> list[str]:
        shard = self._require_open()
        flt = _document_filter(tenant, document_id)

        def page(offset: qe.PointId | None) -> tuple[list[qe.Record], qe.PointId | None]:
            return shard.scroll(
                qe.ScrollRequest(offset=offset, limit=_SCROLL_PAGE, filter=flt, with_payload=True)
            )

        return scrolled_chunk_ids(page)

    def count(self) -> int:
        return self._require_open().count(qe.CountRequest(exact=True))

    # -- helpers --------------------------------------------------------------------------------

    def _require_open(self) -> qe.EdgeShard:
        self._check_open()
        return self._shard

    @staticmethod
    def _search_filter(flt: SearchFilter) -> qe.Filter:
        return qe.Filter(must=filter_conditions(flt, _match, _match_any, meta_field="meta_terms"))

    def _to_point(self, tenant: str, document_id: str, chunk: IndexedChunk, pid: str) -> qe.Point:
        check_chunk_of(chunk, tenant, document_id)
        payload = chunk_payload(chunk)
        vector = checked_vector(chunk.vector, self.dimension, f"vector of chunk {chunk.chunk_id}")
        return qe.Point(pid, vector, payload)
