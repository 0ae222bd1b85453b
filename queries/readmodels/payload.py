"""The Qdrant payload and vector of a chunk, shared by the embedded (qdrant-edge) and server
(qdrant-client) vector indexes, so both store, accept and read exactly the same points."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from ragstream.queries.readmodels.base import IndexedChunk
from ragstream.queries.readmodels.exceptions import DimensionMismatchError
from ragstream.queries.readmodels.terms import acl_terms, metadata_terms, stored_acl


class _StoredPoint(Protocol):
    @property
    def payload(self) -> Mapping[str, Any] | None: ...


_Point = TypeVar("_Point", bound=_StoredPoint)


def access_payload(metadata: Mapping[str, str], acl: Sequence[str]) -> dict[str, Any]:
    return {
        "metadata": dict(metadata),
        # Flattened "key/value" terms: one keyword index serves any metadata key, whatever its
        # characters (a nested `metadata.<key>` path breaks on keys with dots or brackets).
        "meta_terms": metadata_terms(metadata),
        "acl": acl_terms(acl),
    }


def chunk_payload(chunk: IndexedChunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "tenant": chunk.tenant,
        "document_id": chunk.document_id,
        "version": chunk.version,
        "chunk_number": chunk.chunk_number,
        "title": chunk.title,
        "text": chunk.text,
        "start": chunk.start,
        "end": chunk.end,
        **access_payload(chunk.metadata, chunk.acl),
        # A key of its own: update_access replaces the access keys only, so the location stays.
        "location": chunk.location,
    }


def chunk_from_payload(payload: Mapping[str, Any]) -> IndexedChunk:
    return IndexedChunk(
        tenant=str(payload["tenant"]),
        document_id=str(payload["document_id"]),
        version=int(payload["version"]),
        chunk_number=int(payload["chunk_number"]),
        text=str(payload.get("text", "")),
        title=str(payload.get("title", "")),
        start=int(payload.get("start", 0)),
        end=int(payload.get("end", 0)),
        metadata={str(k): str(v) for k, v in (payload.get("metadata") or {}).items()},
        location=str(payload.get("location") or ""),
        acl=stored_acl([str(term) for term in payload.get("acl") or ()]),
    )


def checked_vector(vector: Sequence[float] | None, dimension: int, what: str) -> list[float]:
    """`vector` as plain floats, refused unless it has `dimension` finite values. Checked before any
    write, so a bad embedding fails with an error that names it (`what`) and nothing is half-stored."""
    if vector is None:
        raise ValueError(f"{what} is missing: the vector index needs an embedding for every chunk")
    # One numpy pass instead of a Python loop per value: this runs for every chunk of a rebuild.
    try:
        values = np.asarray(vector)
        floats = values.dtype.kind == "f"
        if not floats:
            values = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not a sequence of numbers: {exc}") from exc
    if values.ndim != 1 or values.shape[0] != dimension:
        raise DimensionMismatchError(f"{what} has dimension {values.size}, expected {dimension}")
    if not np.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    # A list of floats (what the log decodes to) is passed on as it is: a copy of every value of
    # every chunk was a tenth of a rebuild's replay.
    if floats and isinstance(vector, list):
        return vector
    return values.tolist()  # type: ignore[no-any-return]


# The offset is the backend's own point id type, only ever handed back to it. It is typed loosely
# because mypy cannot infer a type variable from an optional union such as `int | UUID | str | None`.
def scrolled_chunk_ids(scroll: Callable[[Any], tuple[Sequence[_Point], object]]) -> list[str]:
    """Chunk ids of every point that `scroll` pages through (called with None, then with the offset
    it returned last, until that is None), in the order the keyword backends list them: version,
    then chunk number. Qdrant scrolls in point-id order, and point ids are hashes."""
    chunks: list[IndexedChunk] = []
    offset: object = None
    while True:
        points, offset = scroll(offset)
        chunks += [chunk_from_payload(point.payload or {}) for point in points]
        if offset is None:
            break
    chunks.sort(key=lambda chunk: (chunk.version, chunk.chunk_number))
    return [chunk.chunk_id for chunk in chunks]
