"""Keyword read model on an embedded tantivy index: BM25 over documents (title and text as one
field), each hit a document's best-matching chunk (see `keyword_text`).

One process owns the index for writing (tantivy allows a single `IndexWriter` per directory);
any number of processes may open it with `readonly=True` to search. Writes become visible at
`flush()`, which commits: a commit is atomic, so a replaced document never appears half-written.

BM25 parameters: tantivy fixes k1=1.2 and b=0.75 (constants in its scorer, not exposed by the
Python binding); the OpenSearch backend is configured with the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import tantivy

from ragstream.queries.readmodels.base import (
    DocumentHit,
    Hit,
    IndexedChunk,
    KeywordIndex,
    SearchFilter,
    check_chunk_of,
    split_location,
    stored_metadata,
)
from ragstream.queries.readmodels.exceptions import IndexLockedError, IndexUnavailableError
from ragstream.queries.readmodels.keyword_text import (
    MAX_TOKEN_CHARS,
    STOP_WORDS,
    KeywordQuery,
    document_text,
    keyword_query,
    rank_by_document,
)
from ragstream.queries.readmodels.lifecycle import IndexLifecycle
from ragstream.queries.readmodels.terms import (
    acl_terms,
    filter_conditions,
    metadata_terms,
    scoped_key,
    stored_acl,
)

DEFAULT_HEAP_SIZE = 50_000_000
ANALYZER = "ragstream_english"
# Chunk fields (to pick a found document's best chunk) and the document field (to rank documents).
_CHUNK_FIELDS = ["title", "text"]
_DOCUMENT_FIELDS = ["body"]
# The document index lives inside the chunk index's folder (tantivy leaves files it did not write).
DOCUMENTS_FOLDER = "documents"


def _analyzer() -> tantivy.TextAnalyzer:
    """OpenSearch's `ragstream_english` in tantivy's terms: lowercase, English stop words, Snowball
    English stemming (OpenSearch is set to the same `porter2` stemmer)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.custom_stopword(list(STOP_WORDS)))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _chunk_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Raw (untokenized) keyword fields; "basic" skips positions nobody phrase-queries on.
    for name, stored in (("chunk_id", True), ("tenant", True), ("document_id", True), ("doc_key", False)):
        builder.add_text_field(name, stored=stored, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("acl", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("meta", stored=False, tokenizer_name="raw", index_option="basic")
    for name in ("version", "chunk_number", "start", "end"):
        builder.add_integer_field(name, stored=True)
    # Chunk text only picks a found document's best chunk; unchanged since the first release, so
    # an existing index still opens (its document index is then built from it).
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem")
    # Bytes, because every text field is indexed and the JSON is only ever read back.
    builder.add_bytes_field("metadata_json", stored=True, indexed=False)
    return builder.build()


def _document_schema() -> tantivy.Schema:
    """One entry per document, in an index of its own, so BM25's document count and average
    length are those of documents (tantivy takes both over every entry of an index)."""
    builder = tantivy.SchemaBuilder()
    for name in ("tenant", "document_id", "doc_key", "acl"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("meta", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("chunks", stored=True)
    builder.add_text_field("body", stored=False, tokenizer_name=ANALYZER)
    return builder.build()


class TantivyKeywordIndex(IndexLifecycle, KeywordIndex):
    """`KeywordIndex` on tantivy: a chunk index at `path` and a document index in `path/documents`.

    A writable instance holds both directories' writer locks for its whole life (a second writer,
    in any process, gets `IndexLockedError`); `readonly=True` instances never take them. Searches,
    `count` and `chunk_ids` read the last commit, and writes are buffered until `flush()`, which
    commits the chunks, then the documents: a search in between finds a document by its previous
    text and cites its current chunks, never a chunk of a deleted document.
    """

    def __init__(self, path: Path, *, readonly: bool = False, heap_size: int = DEFAULT_HEAP_SIZE) -> None:
        super().__init__(f"keyword index at {path}", readonly=readonly)
        self.path = path
        self._schema = _chunk_schema()
        self._doc_schema = _document_schema()
        # Chunks written since the last commit, per scoped document key (empty: deleted). The
        # searcher only sees committed data, and update_access must start from the newest chunks.
        self._pending: dict[str, tuple[IndexedChunk, ...]] = {}
        self._index = self._open_index(path, self._schema, readonly)
        documents_path = path / DOCUMENTS_FOLDER
        # An index written before documents were ranked has no document index: built below.
        built = readonly or (documents_path.is_dir() and tantivy.Index.exists(str(documents_path)))
        self._documents = self._open_index(documents_path, self._doc_schema, readonly)
        self._writer: tantivy.IndexWriter | None = None
        self._doc_writer: tantivy.IndexWriter | None = None
        if not readonly:
            try:
                self._writer = self._index.writer(heap_size=heap_size, num_threads=1)
                self._doc_writer = self._documents.writer(heap_size=heap_size, num_threads=1)
            except ValueError as exc:
                raise IndexLockedError(f"another writer holds the keyword index at {path}: {exc}") from exc
            if not built:
                self._build_documents()

    @classmethod
    def open_readonly(cls, path: Path) -> TantivyKeywordIndex:
        """Open an index another process writes to, for searching only."""
        return cls(path, readonly=True)

    def _open_index(self, path: Path, schema: tantivy.Schema, readonly: bool) -> tantivy.Index:
        try:
            if readonly:
                if not path.is_dir() or not tantivy.Index.exists(str(path)):
                    raise IndexUnavailableError(f"no keyword index at {path}")
            else:
                path.mkdir(parents=True, exist_ok=True)
            # reuse=True opens an existing index and checks its schema instead of overwriting it.
            index = tantivy.Index(schema, path=str(path), reuse=True)
        except ValueError as exc:
            raise IndexUnavailableError(f"cannot open keyword index at {path}: {exc}") from exc
        # Analyzers are not stored with an index: every instance registers its own.
        index.register_tokenizer(ANALYZER, _analyzer())
        # Visibility is driven explicitly (reload after commit, or before each read-only search)
        # rather than by tantivy's background watcher, so a flush is visible as soon as it returns.
        index.config_reader(reload_policy="manual")
        return index

    def _build_documents(self) -> None:
        """Document entries for every document of the chunk index (first open after an upgrade)."""
        searcher = self._index.searcher()
        if searcher.num_docs == 0:
            return
        by_key: dict[str, list[IndexedChunk]] = {}
        for _score, address in searcher.search(tantivy.Query.all_query(), limit=searcher.num_docs).hits:
            chunk = self._to_chunk(searcher.doc(address))
            by_key.setdefault(scoped_key(chunk.tenant, chunk.document_id), []).append(chunk)
        assert self._doc_writer is not None
        for chunks in by_key.values():
            self._doc_writer.add_document(self._document_entry(chunks))
        self._doc_writer.commit()
        self._documents.reload()

    # -- writes ---------------------------------------------------------------------------------

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        for chunk in chunks:
            check_chunk_of(chunk, tenant, document_id)
        with self._lock:
            writer, doc_writer = self._require_writers()
            key = scoped_key(tenant, document_id)
            # Deletes only affect documents added before them, so delete-then-add is a replace,
            # and redelivering the same chunks leaves exactly one copy.
            writer.delete_documents_by_term("doc_key", key)
            doc_writer.delete_documents_by_term("doc_key", key)
            for chunk in chunks:
                writer.add_document(self._to_document(chunk))
            if chunks:
                doc_writer.add_document(self._document_entry(chunks))
            self._pending[key] = tuple(chunks)

    def update_access(
        self, tenant: str, document_id: str, metadata: Mapping[str, str], acl: Sequence[str]
    ) -> None:
        with self._lock:
            self._require_writers()
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
            if self._writer is not None and self._doc_writer is not None and self._pending:
                self._writer.commit()
                self._doc_writer.commit()
                self._pending.clear()
            self._index.reload()
            self._documents.reload()

    def _release(self) -> None:
        try:
            for writer in (self._writer, self._doc_writer):
                if writer is not None:
                    if self._pending:
                        writer.commit()
                    # Lets background merges finish; dropping the writer releases the directory lock.
                    writer.wait_merging_threads()
            self._pending.clear()
        finally:
            self._writer = self._doc_writer = None

    # -- reads (committed data only) ------------------------------------------------------------

    def search_documents(self, query: str, flt: SearchFilter, limit: int) -> list[DocumentHit]:
        parsed = keyword_query(query, flt, limit)
        if parsed is None:
            return []
        self._check_open()
        searcher = self._document_searcher()
        found = []
        for score, address in self._hits(
            searcher, self._documents, self._doc_schema, parsed, _DOCUMENT_FIELDS, flt, limit
        ):
            doc = searcher.doc(address)
            tenant, document_id = str(doc.get_first("tenant")), str(doc.get_first("document_id"))
            found.append(DocumentHit(tenant, document_id, score, int(doc.get_first("chunks") or 1)))
        return found

    def best_chunks(self, query: str, flt: SearchFilter, documents: Sequence[DocumentHit]) -> list[Hit]:
        parsed = keyword_query(query, flt, len(documents))
        if parsed is None:
            return []
        searcher = self._searcher()
        wanted = {(doc.tenant, doc.document_id): scoped_key(doc.tenant, doc.document_id) for doc in documents}
        # Every chunk of the documents is a candidate, so each document gets its best one.
        in_documents = tantivy.Query.term_set_query(self._schema, "doc_key", list(wanted.values()))
        hits = self._hits(
            searcher, self._index, self._schema, parsed, _CHUNK_FIELDS, flt,
            sum(doc.chunks for doc in documents), in_documents,
        )  # fmt: skip
        return rank_by_document(
            documents,
            self._best_chunks(searcher, hits, wanted),
            lambda keys: self._stored_chunks(searcher, keys, flt),
        )

    def _best_chunks(
        self, searcher: tantivy.Searcher, hits: list[tuple[float, Any]], wanted: dict[tuple[str, str], str]
    ) -> list[IndexedChunk]:
        """Each wanted document's best chunk, best first (`wanted` maps (tenant, document id) to the
        document's key). Loading a stored chunk is most of a search's cost, and the found documents
        hold many more chunks than there are documents: the hits are read best first and only until
        every document has its best one. A chunk is matched to its document by the stored pair, not
        by making its key again (a JSON encoding per loaded chunk cost as much as loading it)."""
        best: dict[str, IndexedChunk] = {}
        for _, address in hits:
            doc = searcher.doc(address)
            key = wanted.get((str(doc.get_first("tenant")), str(doc.get_first("document_id"))))
            if key is not None and key not in best:
                best[key] = self._to_chunk(doc)
                if len(best) == len(wanted):
                    break
        return list(best.values())

    def chunk_ids(self, tenant: str, document_id: str) -> list[str]:
        return [chunk.chunk_id for chunk in self._committed_chunks(tenant, document_id)]

    def count(self) -> int:
        """Chunks held."""
        return self._searcher().num_docs

    # -- helpers --------------------------------------------------------------------------------

    def _require_writers(self) -> tuple[tantivy.IndexWriter, tantivy.IndexWriter]:
        self._require_writable()
        # Only read-only and closed instances lack writers, and both were refused just above.
        assert self._writer is not None and self._doc_writer is not None
        return self._writer, self._doc_writer

    def _searcher(self) -> tantivy.Searcher:
        self._check_open()
        if self.readonly:
            # Another process commits; reloading re-reads meta.json (tens of microseconds).
            self._index.reload()
        return self._index.searcher()

    def _document_searcher(self) -> tantivy.Searcher:
        if self.readonly:
            self._documents.reload()
        return self._documents.searcher()

    @staticmethod
    def _text_query(index: tantivy.Index, parsed: KeywordQuery, fields: list[str]) -> tantivy.Query:
        """The words as one OR-query (a repeated word counts again, as in Lucene), and each phrase
        as one more optional clause. What reaches tantivy's parser holds words only, so none of its
        syntax applies; it analyzes them with each field's analyzer."""
        texts = ([parsed.words] if parsed.words else []) + [f'"{phrase}"' for phrase in parsed.phrases]
        clauses = [
            (tantivy.Occur.Should, index.parse_query_lenient(text, default_field_names=fields)[0])
            for text in texts
        ]
        return tantivy.Query.boolean_query(clauses)

    def _hits(
        self,
        searcher: tantivy.Searcher,
        index: tantivy.Index,
        schema: tantivy.Schema,
        parsed: KeywordQuery,
        fields: list[str],
        flt: SearchFilter,
        limit: int,
        *restrict: tantivy.Query,
    ) -> list[tuple[float, Any]]:
        """(score, address) of the top `limit` matches, best first; nothing stored is loaded yet."""
        # Filters are zero-scored Must clauses: they restrict the candidate set before top-k
        # selection, and do not distort BM25 ranking.
        conditions = [*restrict, *self._filter_queries(schema, flt)]
        clauses = [(tantivy.Occur.Must, self._text_query(index, parsed, fields))]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0)) for q in conditions]
        result = searcher.search(tantivy.Query.boolean_query(clauses), limit=max(1, limit))
        return [(float(score), address) for score, address in result.hits]

    @staticmethod
    def _filter_queries(schema: tantivy.Schema, flt: SearchFilter) -> list[tantivy.Query]:
        return filter_conditions(
            flt,
            lambda name, value: tantivy.Query.term_query(schema, name, value),
            lambda name, values: tantivy.Query.term_set_query(schema, name, values),
        )

    def _committed_chunks(self, tenant: str, document_id: str) -> list[IndexedChunk]:
        return self._stored_chunks(self._searcher(), [scoped_key(tenant, document_id)])

    def _stored_chunks(
        self, searcher: tantivy.Searcher, keys: list[str], flt: SearchFilter | None = None
    ) -> list[IndexedChunk]:
        """The stored chunks of the documents `keys`, by version and number; only those passing
        `flt` where one is given (a document that passed it when found may have lost access since)."""
        # An upper bound (it still counts deleted, unmerged copies) that keeps the top-k heap small.
        bound = sum(searcher.doc_freq("doc_key", key) for key in keys)
        if bound == 0:
            return []
        conditions = [tantivy.Query.term_set_query(self._schema, "doc_key", keys)]
        if flt is not None:
            conditions += self._filter_queries(self._schema, flt)
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in conditions])
        chunks = [
            self._to_chunk(searcher.doc(address))
            for _score, address in searcher.search(query, limit=bound).hits
        ]
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
        doc.add_bytes("metadata_json", json.dumps(stored_metadata(chunk), ensure_ascii=False).encode())
        return doc

    @staticmethod
    def _document_entry(chunks: Sequence[IndexedChunk]) -> tantivy.Document:
        """Filtered like the document's chunks (same tenant, ACL and metadata), ranked on `body`."""
        first = chunks[0]
        doc = tantivy.Document(
            tenant=first.tenant,
            document_id=first.document_id,
            doc_key=scoped_key(first.tenant, first.document_id),
            acl=acl_terms(first.acl),
            chunks=len(chunks),
            body=document_text(chunks),
        )
        for value in metadata_terms(first.metadata):
            doc.add_text("meta", value)
        return doc

    @staticmethod
    def _to_chunk(doc: tantivy.Document) -> IndexedChunk:
        def first(name: str) -> Any:
            return doc.get_first(name)

        raw_metadata = first("metadata_json")
        metadata, location = split_location(json.loads(raw_metadata) if raw_metadata else {})
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
            location=location,
        )
