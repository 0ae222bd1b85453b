"""Keyword read model on an embedded tantivy index (BM25 over English-stemmed title and text).

One process owns the index for writing (tantivy allows a single `IndexWriter` per directory);
any number of processes may open it with `readonly=True` to search. Writes become visible at
`flush()`, which commits: a commit is atomic, so a replaced document never appears half-written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import tantivy

from ragstream.queries.readmodels.base import Hit, IndexedChunk, KeywordIndex, SearchFilter, check_chunk_of
from ragstream.queries.readmodels.exceptions import IndexLockedError, IndexUnavailableError
from ragstream.queries.readmodels.lifecycle import IndexLifecycle
from ragstream.queries.readmodels.terms import (
    acl_terms,
    filter_conditions,
    metadata_terms,
    scoped_key,
    stored_acl,
)

DEFAULT_HEAP_SIZE = 50_000_000
# Titles are short and descriptive, so a title match is worth more than one in the body, but not
# so much that a title-only match outranks a chunk that is really about the query.
TITLE_BOOST = 1.5
_SEARCH_FIELDS = ["title", "text"]
_NON_WORD = re.compile(r"[^\w]+")


def _build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Raw (untokenized) keyword fields; "basic" skips positions nobody phrase-queries on.
    for name, stored in (("chunk_id", True), ("tenant", True), ("document_id", True), ("doc_key", False)):
        builder.add_text_field(name, stored=stored, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("acl", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("meta", stored=False, tokenizer_name="raw", index_option="basic")
    for name in ("version", "chunk_number", "start", "end"):
        builder.add_integer_field(name, stored=True)
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem")
    # Bytes, because every text field is indexed and the JSON is only ever read back.
    builder.add_bytes_field("metadata_json", stored=True, indexed=False)
    return builder.build()


class TantivyKeywordIndex(IndexLifecycle, KeywordIndex):
    """`KeywordIndex` on tantivy.

    A writable instance holds the directory's writer lock for its whole life (a second writer,
    in any process, gets `IndexLockedError`); `readonly=True` instances never take it. Searches,
    `count` and `chunk_ids` read the last commit, and writes are buffered until `flush()`.
    """

    def __init__(self, path: Path, *, readonly: bool = False, heap_size: int = DEFAULT_HEAP_SIZE) -> None:
        super().__init__(f"keyword index at {path}", readonly=readonly)
        self.path = path
        self._schema = _build_schema()
        # Chunks written since the last commit, per scoped document key (empty: deleted). The
        # searcher only sees committed data, and update_access must start from the newest chunks.
        self._pending: dict[str, tuple[IndexedChunk, ...]] = {}
        self._index = self._open_index(path, readonly)
        # Visibility is driven explicitly (reload after commit, or before each read-only search)
        # rather than by tantivy's background watcher, so a flush is visible as soon as it returns.
        self._index.config_reader(reload_policy="manual")
        self._writer: tantivy.IndexWriter | None = None
        if not readonly:
            try:
                self._writer = self._index.writer(heap_size=heap_size, num_threads=1)
            except ValueError as exc:
                raise IndexLockedError(f"another writer holds the keyword index at {path}: {exc}") from exc

    @classmethod
    def open_readonly(cls, path: Path) -> TantivyKeywordIndex:
        """Open an index another process writes to, for searching only."""
        return cls(path, readonly=True)

    def _open_index(self, path: Path, readonly: bool) -> tantivy.Index:
        try:
            if readonly:
                if not path.is_dir() or not tantivy.Index.exists(str(path)):
                    raise IndexUnavailableError(f"no keyword index at {path}")
            else:
                path.mkdir(parents=True, exist_ok=True)
            # reuse=True opens an existing index and checks its schema instead of overwriting it.
            return tantivy.Index(self._schema, path=str(path), reuse=True)
        except ValueError as exc:
            raise IndexUnavailableError(f"cannot open keyword index at {path}: {exc}") from exc

    # -- writes ---------------------------------------------------------------------------------

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        for chunk in chunks:
            check_chunk_of(chunk, tenant, document_id)
        with self._lock:
            writer = self._require_writer()
            key = scoped_key(tenant, document_id)
            # Deletes only affect documents added before them, so delete-then-add is a replace,
            # and redelivering the same chunks leaves exactly one copy.
            writer.delete_documents_by_term("doc_key", key)
            for chunk in chunks:
                writer.add_document(self._to_document(chunk))
            self._pending[key] = tuple(chunks)

    def update_access(
        self, tenant: str, document_id: str, metadata: Mapping[str, str], acl: Sequence[str]
    ) -> None:
        with self._lock:
            self._require_writer()
            key = scoped_key(tenant, document_id)
            current = (
                self._pending[key] if key in self._pending else self._committed_chunks(tenant, document_id)
            )
            if not current:
                return
            # Tantivy cannot update a field in place: re-add the stored chunks with the new access.
            updated = [replace(chunk, metadata=dict(metadata), acl=tuple(acl)) for chunk in current]
            self.replace_document(tenant, document_id, updated)

    def flush(self) -> None:
        with self._lock:
            self._check_open()
            if self._writer is not None and self._pending:
                self._writer.commit()
                self._pending.clear()
            self._index.reload()

    def _release(self) -> None:
        try:
            if self._writer is not None:
                if self._pending:
                    self._writer.commit()
                    self._pending.clear()
                # Lets background merges finish; dropping the writer releases the directory lock.
                self._writer.wait_merging_threads()
        finally:
            self._writer = None

    # -- reads (committed data only) ------------------------------------------------------------

    def search(self, query: str, flt: SearchFilter, limit: int) -> list[Hit]:
        if limit <= 0 or not query.strip():
            # tantivy panics on limit 0 rather than returning nothing.
            return []
        if flt.document_ids is not None and not flt.document_ids:
            return []
        searcher = self._searcher()
        parsed = self._parse(query)
        if parsed is None:
            return []
        # Filters are zero-scored Must clauses: they restrict the candidate set before top-k
        # selection, and do not distort BM25 ranking.
        clauses = [(tantivy.Occur.Must, parsed)]
        clauses += [
            (tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0)) for q in self._filter_queries(flt)
        ]
        result = searcher.search(tantivy.Query.boolean_query(clauses), limit=limit)
        return [Hit(self._to_chunk(searcher.doc(address)), float(score)) for score, address in result.hits]

    def chunk_ids(self, tenant: str, document_id: str) -> list[str]:
        return [chunk.chunk_id for chunk in self._committed_chunks(tenant, document_id)]

    def count(self) -> int:
        return self._searcher().num_docs

    # -- helpers --------------------------------------------------------------------------------

    def _require_writer(self) -> tantivy.IndexWriter:
        self._require_writable()
        # Only read-only and closed instances lack a writer, and both were refused just above.
        assert self._writer is not None
        return self._writer

    def _searcher(self) -> tantivy.Searcher:
        self._check_open()
        if self.readonly:
            # Another process commits; reloading re-reads meta.json (tens of microseconds).
            self._index.reload()
        return self._index.searcher()

    def _parse(self, query: str) -> tantivy.Query | None:
        """Lenient parse: syntax errors are dropped by tantivy, never raised to the user."""
        for text in (query, _NON_WORD.sub(" ", query).strip()):
            if not text:
                continue
            try:
                parsed, _errors = self._index.parse_query_lenient(
                    text, default_field_names=_SEARCH_FIELDS, field_boosts={"title": TITLE_BOOST}
                )
                return parsed
            except ValueError:
                # Retry with the words alone (only punctuation can trip the lenient parser).
                continue
        return None

    def _filter_queries(self, flt: SearchFilter) -> list[tantivy.Query]:
        return filter_conditions(
            flt,
            lambda name, value: tantivy.Query.term_query(self._schema, name, value),
            lambda name, values: tantivy.Query.term_set_query(self._schema, name, values),
        )

    def _committed_chunks(self, tenant: str, document_id: str) -> list[IndexedChunk]:
        searcher = self._searcher()
        key = scoped_key(tenant, document_id)
        # An upper bound (it still counts deleted, unmerged copies) that keeps the top-k heap small.
        bound = searcher.doc_freq("doc_key", key)
        if bound == 0:
            return []
        hits = searcher.search(tantivy.Query.term_query(self._schema, "doc_key", key), limit=bound).hits
        chunks = [self._to_chunk(searcher.doc(address)) for _score, address in hits]
        return sorted(chunks, key=lambda chunk: (chunk.version, chunk.chunk_number))

    def _to_document(self, chunk: IndexedChunk) -> tantivy.Document:
        doc = tantivy.Document(
            chunk_id=chunk.chunk_id,
            tenant=chunk.tenant,
            document_id=chunk.document_id,
            doc_key=scoped_key(chunk.tenant, chunk.document_id),
            acl=acl_terms(chunk.acl),
            version=chunk.version,
            chunk_number=chunk.chunk_number,
            start=chunk.start,
            end=chunk.end,
            title=chunk.title,
            text=chunk.text,
        )
        for value in metadata_terms(chunk.metadata):
            doc.add_text("meta", value)
        doc.add_bytes("metadata_json", json.dumps(dict(chunk.metadata), ensure_ascii=False).encode())
        return doc

    @staticmethod
    def _to_chunk(doc: tantivy.Document) -> IndexedChunk:
        def first(name: str) -> Any:
            return doc.get_first(name)

        raw_metadata = first("metadata_json")
        metadata: dict[str, str] = json.loads(raw_metadata) if raw_metadata else {}
        return IndexedChunk(
            tenant=str(first("tenant")),
            document_id=str(first("document_id")),
            version=int(first("version")),
            chunk_number=int(first("chunk_number")),
            text=str(first("text") or ""),
            title=str(first("title") or ""),
            start=int(first("start")),
            end=int(first("end")),
            metadata=metadata,
            acl=stored_acl([str(value) for value in doc.get_all("acl")]),
        )
