"""Typed interfaces of the search read models.

Both indexes hold the chunks of the *current* version of each document. Version guards (a stale
event never overwrites a newer one) live in the projection that feeds them, so an index only needs
to replace, delete and search; every backend passes the same contract suite in
`tests/contract/`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


def chunk_id(document_id: str, version: int, chunk_number: int) -> str:
    """Deterministic chunk id, so redelivery overwrites instead of duplicating."""
    return f"{document_id}#v{version}#c{chunk_number}"


@dataclass(frozen=True)
class IndexedChunk:
    tenant: str
    document_id: str
    version: int
    chunk_number: int
    text: str
    title: str = ""
    # Character span of this chunk in the document's extracted text, for citations.
    start: int = 0
    end: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Principals and groups ("user:alice", "group:eng") allowed to read; empty means the whole tenant.
    acl: Sequence[str] = ()
    vector: Sequence[float] | None = None
    # Where the chunk lies in a binary original ("page 2", "slide 3", "sheet Budget"); "" for text.
    location: str = ""

    @property
    def chunk_id(self) -> str:
        return chunk_id(self.document_id, self.version, self.chunk_number)


# The keyword indexes keep the location with the stored metadata, under a key no metadata key can be
# (they match [A-Za-z0-9_.-]): their schemas are fixed (tantivy's chunk schema, OpenSearch's strict
# mapping), and a stored-only value needs no new field, so indexes written before locations still
# open. Qdrant's payload is schemaless and stores it as a key of its own.
LOCATION_KEY = "@location"


def stored_metadata(chunk: IndexedChunk) -> dict[str, str]:
    metadata = dict(chunk.metadata)
    if chunk.location:
        metadata[LOCATION_KEY] = chunk.location
    return metadata


def split_location(stored: Mapping[str, object] | None) -> tuple[dict[str, str], str]:
    """(metadata, location) of what `stored_metadata` stored."""
    metadata = {str(k): str(v) for k, v in (stored or {}).items()}
    return metadata, metadata.pop(LOCATION_KEY, "")


def check_chunk_of(chunk: IndexedChunk, tenant: str, document_id: str) -> None:
    """Refuse a chunk handed to `replace_document` of another document: every backend keys the
    replace by tenant and document id, so it would land in (or be pruned from) the wrong document."""
    if (chunk.tenant, chunk.document_id) != (tenant, document_id):
        raise ValueError(f"chunk {chunk.chunk_id} does not belong to {tenant}/{document_id}")


@dataclass(frozen=True)
class SearchFilter:
    """Applied inside each search, never after truncation."""

    tenant: str
    # None: no ACL restriction (trusted internal caller). Otherwise a chunk is visible when its ACL is
    # empty or shares at least one entry with these principals.
    principals: Sequence[str] | None = None
    # Exact-match metadata constraints, all of which must hold.
    metadata: Mapping[str, str] = field(default_factory=dict)
    document_ids: Sequence[str] | None = None


@dataclass(frozen=True)
class Hit:
    chunk: IndexedChunk
    score: float


@dataclass(frozen=True)
class DocumentHit:
    """A keyword hit before its best chunk is looked up: a document and its BM25 score."""

    tenant: str
    document_id: str
    score: float
    # How many chunks the document has: bounds the search for its best one.
    chunks: int = 1
    # The version the whole-document entry was indexed at, where the backend stores it: the
    # document is cited only by chunks of that version.
    version: int | None = None


@dataclass(frozen=True)
class DocumentChunks:
    """One document's new chunks, for `replace_documents`; `new` when no version of the document
    was ever applied to the index (nothing of it to remove)."""

    tenant: str
    document_id: str
    chunks: Sequence[IndexedChunk]
    new: bool = False


@runtime_checkable
class SearchIndex(Protocol):
    """What both the keyword and the vector read model can do besides searching."""

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        """Atomically (as far as the backend allows) make `chunks` the only chunks of the document."""

    def replace_documents(self, documents: Sequence[DocumentChunks]) -> None:
        """`replace_document` for several distinct documents, in order. This default (inherited by
        the adapters) replaces them one by one; a backend with a bulk write overrides it."""
        for doc in documents:
            self.replace_document(doc.tenant, doc.document_id, doc.chunks)

    def delete_document(self, tenant: str, document_id: str, version: int | None = None) -> None:
        """Replacing with no chunks: every backend's replace already removes the chunks the new
        version lacks, so this default (inherited by the adapters that subclass the protocol) keeps
        a delete under the same guards and atomicity as a replace. `version`, the delete's own, is
        for a backend that guards its writes by version itself (OpenSearch)."""
        self.replace_document(tenant, document_id, ())

    def update_access(
        self, tenant: str, document_id: str, metadata: Mapping[str, str], acl: Sequence[str]
    ) -> None:
        """Change metadata and ACL of every chunk of the document, keeping text and vectors."""

    def chunk_ids(self, tenant: str, document_id: str) -> list[str]: ...

    def count(self) -> int: ...

    def flush(self) -> None:
        """Make writes durable and visible to searches."""

    def close(self) -> None: ...


@runtime_checkable
class KeywordIndex(SearchIndex, Protocol):
    """BM25 ranks documents; a hit cites the document's best-matching chunk (`keyword_text`).

    The two steps are separate so that hybrid search looks up chunks only for the documents that
    reach the page it returns: most of a keyword search's time is loading stored chunks.
    """

    def search(self, query: str, flt: SearchFilter, limit: int) -> list[Hit]:
        """BM25 search: the top `limit` documents, each as its best chunk. User text is parsed
        leniently: syntax errors never raise."""
        return self.best_chunks(query, flt, self.search_documents(query, flt, limit))

    def search_documents(self, query: str, flt: SearchFilter, limit: int) -> list[DocumentHit]:
        """The top `limit` documents by BM25, best first; no chunk is loaded."""

    def best_chunks(self, query: str, flt: SearchFilter, documents: Sequence[DocumentHit]) -> list[Hit]:
        """Each document's best-matching chunk for `query` (its first chunk where none matches, as
        for a phrase across a chunk boundary), carrying the document's score, in the order given.
        A document deleted, or no longer passing `flt`, since it was found is left out."""


@runtime_checkable
class VectorIndex(SearchIndex, Protocol):
    dimension: int

    def search(self, vector: Sequence[float], flt: SearchFilter, limit: int) -> list[Hit]:
        """Cosine-similarity search."""
