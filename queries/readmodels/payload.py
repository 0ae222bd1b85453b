"""The Qdrant payload of a chunk, shared by the embedded (qdrant-edge) and server (qdrant-client)
vector indexes, so both store and read exactly the same points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ragstream.queries.readmodels.base import IndexedChunk
from ragstream.queries.readmodels.terms import acl_terms, metadata_terms, stored_acl


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
        acl=stored_acl([str(term) for term in payload.get("acl") or ()]),
    )
