"""Small builders shared by the contract suites (no embedding model: vectors are hand-made)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ragstream.queries.readmodels.base import Hit, IndexedChunk

DIMENSION = 8


def make_chunk(
    document_id: str,
    chunk_number: int,
    text: str,
    *,
    tenant: str = "acme",
    version: int = 1,
    title: str = "",
    metadata: Mapping[str, str] | None = None,
    acl: Sequence[str] = (),
    vector: Sequence[float] | None = None,
) -> IndexedChunk:
    start = chunk_number * 1000
    return IndexedChunk(
        tenant=tenant,
        document_id=document_id,
        version=version,
        chunk_number=chunk_number,
        text=text,
        title=title,
        start=start,
        end=start + len(text),
        metadata=dict(metadata or {}),
        acl=tuple(acl),
        vector=vector,
    )


def basis(axis: int, *, lean: int | None = None, weight: float = 0.0) -> list[float]:
    """Unit vector along `axis`, optionally leaning towards `lean` (cosine drops as weight grows)."""
    vector = [0.0] * DIMENSION
    vector[axis] = 1.0
    if lean is not None:
        vector[lean] = weight
    return vector


def without_vector(chunk: IndexedChunk) -> IndexedChunk:
    return replace(chunk, vector=None)


def hit_ids(hits: Sequence[Hit]) -> list[str]:
    return [hit.chunk.chunk_id for hit in hits]
