"""The request and response bodies of the OpenSearch keyword read model, as pure functions: index
settings, mappings and template, stored chunk sources and their ids, search queries and filters,
bulk actions and their outcome. The index class (`opensearch_index`) sends them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragstream.queries.readmodels.base import IndexedChunk, SearchFilter, split_location, stored_metadata
from ragstream.queries.readmodels.keyword_text import (
    DOCUMENT_ENTRY,
    KIND_CHUNK,
    KIND_DOCUMENT,
    MAX_TOKEN_CHARS,
    STOP_WORDS,
    KeywordQuery,
    document_text,
)
from ragstream.queries.readmodels.terms import (
    acl_terms,
    filter_conditions,
    metadata_terms,
    scoped_key,
    stored_acl,
)

DEFAULT_ALIAS = "ragstream-chunks"
# Bumped whenever the mappings or analysis change; recorded in each generation's mapping `_meta`.
# 2: whole-document entries (`kind`, `body`, `chunks`), shared stop words, porter2, explicit BM25.
# A generation of an earlier schema refuses the new fields (strict mappings): rebuild into a new one.
SCHEMA_VERSION = 2
ANALYZER = "ragstream_english"
# Chunk text only picks a found document's best chunk; analysed as Tantivy's chunk index does (its
# `en_stem`: no stop words), so both backends cite the same chunk.
CHUNK_ANALYZER = "ragstream_english_chunk"
# Tantivy's fixed BM25 parameters (also Lucene's defaults), so both backends score alike.
BM25_K1 = 1.2
BM25_B = 0.75
CHUNK_FIELDS = ["title", "text"]
DOCUMENT_FIELDS = ["body"]
_MAX_ID_BYTES = 512  # OpenSearch rejects longer document ids.
SOURCE_FIELDS = [
    "tenant",
    "document_id",
    "version",
    "chunk_number",
    "text",
    "title",
    "start",
    "end",
    "metadata",
    "acl",
]


@dataclass(frozen=True)
class IndexOptions:
    """Per-generation index settings (applied through the index template)."""

    # One shard keeps BM25 statistics global and a refresh atomic; split only for very large corpora.
    shards: int = 1
    # 0 suits a single development node; use at least 1 on a cluster.
    replicas: int = 0
    # How long delete tombstones (and so the stale-write guard after a delete) are kept.
    gc_deletes: str = "1h"


# -- index layout ------------------------------------------------------------------------------


def _english(stop_words: bool) -> dict[str, Any]:
    stop = ["ragstream_english_stop"] if stop_words else []
    return {
        "type": "custom",
        "tokenizer": "standard",
        "filter": [
            "ragstream_english_possessive", "ragstream_english_long", "lowercase", *stop,
            "ragstream_english_stemmer",
        ],
    }  # fmt: skip


def analysis_settings() -> dict[str, Any]:
    """The analyzers of Tantivy's keyword index in OpenSearch's terms: standard tokenizer, possessive
    stemming, lowercase, Snowball English (porter2) stemming, and for documents the shared stop words."""
    return {
        "filter": {
            "ragstream_english_possessive": {"type": "stemmer", "language": "possessive_english"},
            "ragstream_english_long": {"type": "length", "max": MAX_TOKEN_CHARS},
            "ragstream_english_stop": {"type": "stop", "stopwords": list(STOP_WORDS)},
            "ragstream_english_stemmer": {"type": "stemmer", "language": "porter2"},
        },
        "analyzer": {ANALYZER: _english(stop_words=True), CHUNK_ANALYZER: _english(stop_words=False)},
    }


def mappings() -> dict[str, Any]:
    keyword = {"type": "keyword"}
    return {
        "dynamic": "strict",
        "_meta": {"ragstream_schema": SCHEMA_VERSION},
        "properties": {
            "chunk_id": keyword,
            # "chunk", or "document" for the whole-document entry BM25 ranks documents by.
            "kind": keyword,
            "tenant": keyword,
            "document_id": keyword,
            # tenant + document id, for listing and replacing one document's chunks.
            "doc_key": keyword,
            # ACL entries (or the public marker) and metadata "key/value" terms: exact-match filters.
            "acl": keyword,
            "meta": keyword,
            "version": {"type": "long"},
            "chunk_number": {"type": "integer"},
            "start": {"type": "integer", "index": False},
            "end": {"type": "integer", "index": False},
            "title": {"type": "text", "analyzer": CHUNK_ANALYZER},
            "text": {"type": "text", "analyzer": CHUNK_ANALYZER},
            # Whole-document entries only: title and text, and how many chunks the document has.
            "body": {"type": "text", "analyzer": ANALYZER},
            "chunks": {"type": "integer", "index": False},
            # Returned as given; never indexed, so any key (dots, brackets) is fine.
            "metadata": {"type": "object", "enabled": False},
        },
    }


def index_template(alias: str, options: IndexOptions) -> dict[str, Any]:
    return {
        "index_patterns": [f"{alias}-g*"],
        "priority": 200,
        "_meta": {"managed_by": "ragstream", "ragstream_schema": SCHEMA_VERSION},
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": options.shards,
                    "number_of_replicas": options.replicas,
                    # Refreshes happen at flush() only: a replace becomes visible all at once.
                    "refresh_interval": "-1",
                    "gc_deletes": options.gc_deletes,
                },
                "similarity": {"default": {"type": "BM25", "k1": BM25_K1, "b": BM25_B}},
                "analysis": analysis_settings(),
            },
            "mappings": mappings(),
        },
    }


def template_name(alias: str) -> str:
    return f"{alias}-template"


def slot_id(tenant: str, document_id: str, chunk_number: int) -> str:
    """Document id of a chunk *slot*: tenant-scoped and version-free, so versions of the same chunk
    compete for one id and external versioning can reject the older one. The whole-document entry
    is slot DOCUMENT_ENTRY, versioned and replaced like the chunks."""
    key = scoped_key(tenant, f"{document_id}#c{chunk_number}")
    if len(key.encode()) <= _MAX_ID_BYTES:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def chunk_source(chunk: IndexedChunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "kind": KIND_CHUNK,
        "tenant": chunk.tenant,
        "document_id": chunk.document_id,
        "doc_key": scoped_key(chunk.tenant, chunk.document_id),
        "acl": acl_terms(chunk.acl),
        "meta": metadata_terms(chunk.metadata),
        "version": chunk.version,
        "chunk_number": chunk.chunk_number,
        "start": chunk.start,
        "end": chunk.end,
        "title": chunk.title,
        "text": chunk.text,
        "metadata": stored_metadata(chunk),
    }


def document_source(chunks: Sequence[IndexedChunk]) -> dict[str, Any]:
    """The whole-document entry: filtered like the document's chunks, ranked on `body`."""
    first = chunks[0]
    return {
        "kind": KIND_DOCUMENT,
        "tenant": first.tenant,
        "document_id": first.document_id,
        "doc_key": scoped_key(first.tenant, first.document_id),
        "acl": acl_terms(first.acl),
        "meta": metadata_terms(first.metadata),
        "version": first.version,
        "chunk_number": DOCUMENT_ENTRY,
        "body": document_text(chunks),
        "chunks": len(chunks),
    }


def chunk_from_source(source: Mapping[str, Any]) -> IndexedChunk:
    metadata, location = split_location(source.get("metadata"))
    return IndexedChunk(
        tenant=str(source["tenant"]),
        document_id=str(source["document_id"]),
        version=int(source["version"]),
        chunk_number=int(source["chunk_number"]),
        text=str(source.get("text") or ""),
        title=str(source.get("title") or ""),
        start=int(source.get("start") or 0),
        end=int(source.get("end") or 0),
        metadata=metadata,
        location=location,
        acl=stored_acl([str(term) for term in source.get("acl") or ()]),
    )


# -- request bodies (pure, unit-tested without a node) -----------------------------------------


def _term(field: str, value: str) -> dict[str, Any]:
    return {"term": {field: value}}


def _terms(field: str, values: list[str]) -> dict[str, Any]:
    return {"terms": {field: values}}


def filter_clauses(flt: SearchFilter) -> list[dict[str, Any]]:
    return filter_conditions(flt, _term, _terms)


def text_query(query: KeywordQuery, fields: Sequence[str]) -> dict[str, Any]:
    """The words as one OR-query summed over `fields`, and each phrase as one more optional
    clause: the same reading of user text as the Tantivy index, and no query syntax at all."""
    should: list[dict[str, Any]] = []
    if query.words:
        should.append({"multi_match": {"query": query.words, "fields": list(fields), "type": "most_fields"}})
    should += [
        {"multi_match": {"query": phrase, "fields": list(fields), "type": "phrase"}}
        for phrase in query.phrases
    ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def search_body(
    scoring: Mapping[str, Any],
    flt: SearchFilter,
    limit: int,
    *,
    kind: str = KIND_CHUNK,
    doc_keys: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Entries of `kind` (of the documents `doc_keys` only, when given) that pass `flt`, by score."""
    filters = [_term("kind", kind), *filter_clauses(flt)]
    if doc_keys is not None:
        filters.append(_terms("doc_key", list(doc_keys)))
    return {
        "size": limit,
        "track_total_hits": False,
        "_source": SOURCE_FIELDS if kind == KIND_CHUNK else ["tenant", "document_id", "chunks", "version"],
        "query": {"bool": {"must": [dict(scoring)], "filter": filters}},
    }


def document_actions(
    index: str,
    tenant: str,
    document_id: str,
    chunks: Sequence[IndexedChunk],
    stored: Mapping[int, int],
    deleted_at: int | None = None,
) -> list[dict[str, Any]]:
    """Bulk lines that make `chunks` the only chunks of a document whose stored chunk slots are
    `stored` (chunk number -> version). Empty `chunks` deletes the document, at `deleted_at` (the
    delete's version) where it is known."""
    lines: list[dict[str, Any]] = []
    new_slots = {chunk.chunk_number for chunk in chunks}
    for chunk in chunks:
        meta = {
            "_index": index,
            "_id": slot_id(tenant, document_id, chunk.chunk_number),
            "version": chunk.version,
            "version_type": "external_gte",
        }
        lines += [{"index": meta}, chunk_source(chunk)]
    if chunks:
        meta = {
            "_index": index,
            "_id": slot_id(tenant, document_id, DOCUMENT_ENTRY),
            "version": chunks[0].version,
            "version_type": "external_gte",
        }
        lines += [{"index": meta}, document_source(chunks)]
        new_slots.add(DOCUMENT_ENTRY)
    new_version = max((chunk.version for chunk in chunks), default=None)
    # A replace drops the slots its version no longer has, at that version, and a delete at its own:
    # when the stored chunk is newer, the delete conflicts like a stale replace's index operations
    # do. A delete of unknown version writes its tombstone one above what it removes. Either way a
    # late write of an older version cannot revive the chunk.
    removed_at = new_version if new_version is not None else deleted_at
    tombstones = {
        number: removed_at if removed_at is not None else version + 1
        for number, version in stored.items()
        if number not in new_slots
    }
    if not chunks and deleted_at is not None:
        # The document entry is what a search finds: its tombstone keeps an older version written
        # later (a rebuild's catch-up) from being found, even where this index never held it.
        tombstones.setdefault(DOCUMENT_ENTRY, deleted_at)
    for number, tombstone in sorted(tombstones.items()):
        meta = {
            "_index": index,
            "_id": slot_id(tenant, document_id, number),
            "version": tombstone,
            "version_type": "external_gte",
        }
        lines.append({"delete": meta})
    return lines


@dataclass(frozen=True)
class BulkOutcome:
    applied: int
    stale: int
    errors: list[str]


def bulk_outcome(response: Mapping[str, Any]) -> BulkOutcome:
    applied = stale = 0
    errors: list[str] = []
    for item in response.get("items", []):
        ((action, result),) = item.items()
        status = int(result.get("status", 0))
        error = result.get("error")
        if status == 409 or (isinstance(error, Mapping) and "version_conflict" in str(error.get("type"))):
            stale += 1
        elif action == "delete" and status == 404:
            applied += 1  # Nothing to delete; the tombstone is still recorded.
        elif status >= 300 or error:
            errors.append(f"{action} {result.get('_id')}: {error}")
        else:
            applied += 1
    return BulkOutcome(applied, stale, errors)
