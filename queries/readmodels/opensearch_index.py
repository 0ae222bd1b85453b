"""Keyword read model on an OpenSearch cluster (BM25 over English-analysed title and text).

Layout. Searches and writes go through an alias (`ragstream-chunks` by default) that points at one
*generation*, a concrete index named `<alias>-g000001`, `<alias>-g000002`, ... An index template
gives every generation the same settings and mappings, so a rebuild is: create the next generation,
replay the log into it (an `OpenSearchKeywordIndex` opened on the generation's name), then swap the
alias in one atomic `_aliases` call (`IndexGenerations`).

Writes. Like the tantivy backend, writes are buffered per document and sent at `flush()`: one bulk
request (index the new chunks, delete the chunks the document no longer has), then a refresh. The
index's `refresh_interval` is -1, so nothing becomes searchable between flushes and a replaced
document never shows half-written. Each chunk is stored under a tenant-scoped id of its *slot*
(document id and chunk number, without the version) with external versioning (`external_gte`,
version = document version): a stale write loses to the newer version it would overwrite instead of
replacing it, and redelivering the same version is idempotent. Deletes write tombstones at the
delete's version (one above what they remove where no version is given), the document entry's
among them even where the index never held it; OpenSearch keeps tombstones for `index.gc_deletes`,
so the guard against a late stale write after a delete lasts that long. A stale write can still
add chunk slots the index never held (a rebuild's catch-up replaying an older version after a
worker's delete or shrink): its document entry loses to the newer one or to the tombstone, so no
search finds the document by it, a found document is cited only by chunks of its entry's version,
and the document's next write removes them. The projection's own version guard stays the first
line of defence: this one is for concurrent or zombie writers.

Searches rank documents, as the Tantivy backend does (`keyword_text`): each document has one more
entry (slot DOCUMENT_ENTRY, `kind` "document") holding its title and text in `body`; a search ranks
those entries, then picks each found document's best chunk among its chunk entries. User text is
reduced to words and quoted phrases, so no query syntax applies: `tenant:globex` is two words, not
an escape from the filters. Tenant, ACL, metadata and document filters are `bool.filter` clauses,
applied inside the search before top-k and unscored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)
from opensearchpy.exceptions import (
    NotFoundError,
    RequestError,
    TransportError,
)

from ragstream.queries.readmodels.base import (
    DocumentHit,
    Hit,
    IndexedChunk,
    KeywordIndex,
    SearchFilter,
    check_chunk_of,
)
from ragstream.queries.readmodels.exceptions import IndexUnavailableError, ReadModelError
from ragstream.queries.readmodels.generations import generation_name, generation_number, is_generation
from ragstream.queries.readmodels.keyword_text import (
    KIND_CHUNK,
    KIND_DOCUMENT,
    keyword_query,
    rank_by_document,
)
from ragstream.queries.readmodels.lifecycle import ServerIndexLifecycle
from ragstream.queries.readmodels.opensearch_bodies import (
    CHUNK_FIELDS,
    DEFAULT_ALIAS,
    DOCUMENT_FIELDS,
    SOURCE_FIELDS,
    IndexOptions,
    bulk_outcome,
    chunk_from_source,
    document_actions,
    filter_clauses,
    index_template,
    search_body,
    template_name,
    text_query,
)
from ragstream.queries.readmodels.terms import scoped_key

log = logging.getLogger(__name__)
# Documents per scroll page and ids per multi-get when reading a whole index back.
_PAGE = 1000
# A document's pending write: tenant, document id, its chunks (none: deleted), a delete's version.
_Pending = tuple[str, str, tuple[IndexedChunk, ...], int | None]
_KIND_CHUNK = {"term": {"kind": KIND_CHUNK}}

# -- generations and aliases -------------------------------------------------------------------


class IndexGenerations:
    """Generations of the keyword index behind one alias, for rebuilds without downtime.

    Rebuild: `new = gens.create_next()`, replay the log into `OpenSearchKeywordIndex(client, new)`,
    then `gens.swap(new)` (atomic: searches see the old or the new generation, never neither) and,
    once satisfied, `gens.drop(old)`.
    """

    def __init__(self, client: OpenSearch, alias: str = DEFAULT_ALIAS, options: IndexOptions | None = None):
        self.client = client
        self.alias = alias
        self.options = options or IndexOptions()

    def ensure_template(self) -> None:
        self.client.indices.put_index_template(
            name=template_name(self.alias), body=index_template(self.alias, self.options)
        )

    def generations(self) -> list[str]:
        """Existing generations, oldest first."""
        try:
            found = self.client.indices.get(index=f"{self.alias}-g*", params={"allow_no_indices": "true"})
        except NotFoundError:
            return []
        named = [(generation_number(self.alias, name), name) for name in found]
        return [name for number, name in sorted((n, name) for n, name in named if n is not None)]

    def current(self) -> list[str]:
        """Indexes the alias points to (one, unless someone edited the alias by hand)."""
        try:
            return sorted(self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            return []

    def create_next(self) -> str:
        """Create (from the template) and return the generation after the newest existing one."""
        self.ensure_template()
        existing = [generation_number(self.alias, name) or 0 for name in self.generations()]
        name = generation_name(self.alias, max(existing, default=0) + 1)
        self.client.indices.create(index=name)
        return name

    def swap(self, generation: str) -> list[str]:
        """Point the alias at `generation` only, atomically; returns the generations it left."""
        if generation_number(self.alias, generation) is None:
            raise ValueError(f"{generation!r} is not a generation of {self.alias!r}")
        previous = [name for name in self.current() if name != generation]
        actions: list[dict[str, Any]] = [
            {"remove": {"index": name, "alias": self.alias}} for name in previous
        ]
        actions.append({"add": {"index": generation, "alias": self.alias, "is_write_index": True}})
        self.client.indices.update_aliases(body={"actions": actions})
        return previous

    def drop(self, generation: str) -> None:
        if generation in self.current():
            raise ValueError(f"{generation} is what {self.alias} points to; swap to another generation first")
        if generation_number(self.alias, generation) is None:
            raise ValueError(f"{generation!r} is not a generation of {self.alias!r}")
        self.client.indices.delete(index=generation)

    def bootstrap(self) -> str:
        """Make sure the alias exists: if it does not, create the first generation behind it.
        Returns the index the alias points to. Safe to call from several processes at once."""
        current = self.current()
        if current:
            return current[0]
        self.ensure_template()
        name = generation_name(self.alias, 1)
        try:
            self.client.indices.create(index=name, body={"aliases": {self.alias: {"is_write_index": True}}})
        except RequestError as exc:
            if "resource_already_exists" not in str(exc.error):
                raise
            # Another process created it; it may not have added the alias yet.
            if not self.current():
                self.swap(name)
        return name


# -- the read model ----------------------------------------------------------------------------


class OpenSearchKeywordIndex(ServerIndexLifecycle[OpenSearch], KeywordIndex):
    """`KeywordIndex` on OpenSearch.

    `name` is the alias (normal operation; created with its first generation when missing) or a
    concrete generation (while rebuilding it). Any number of instances, in any process, may search;
    writes should come from one projection per partition of the log, as with every backend.
    """

    def __init__(
        self,
        client: OpenSearch,
        name: str = DEFAULT_ALIAS,
        *,
        readonly: bool = False,
        options: IndexOptions | None = None,
        owns_client: bool = False,
    ) -> None:
        super().__init__(client, name, f"keyword index {name!r}", readonly=readonly, owns_client=owns_client)
        # Chunks written since the last flush, per scoped document key (empty tuple: deleted), and
        # the version of a delete where it was given.
        self._pending: dict[str, _Pending] = {}
        self._open_owning(lambda: self._open(options or IndexOptions()))

    @classmethod
    def connect(
        cls,
        url: str,
        name: str = DEFAULT_ALIAS,
        *,
        username: str = "",
        password: str = "",
        verify_certs: bool = True,
        ca_certs: str | None = None,
        timeout_s: float = 30.0,
        readonly: bool = False,
        options: IndexOptions | None = None,
    ) -> OpenSearchKeywordIndex:
        return cls(
            make_client(
                url,
                username=username,
                password=password,
                verify_certs=verify_certs,
                ca_certs=ca_certs,
                timeout_s=timeout_s,
            ),
            name,
            readonly=readonly,
            options=options,
            owns_client=True,
        )

    def _open(self, options: IndexOptions) -> None:
        try:
            if self.client.indices.exists(index=self.name):
                return
            if self.readonly:
                raise IndexUnavailableError(f"no keyword index or alias {self.name!r} in OpenSearch")
            if is_generation(self.name):
                raise IndexUnavailableError(f"generation {self.name} does not exist; create it first")
            IndexGenerations(self.client, self.name, options).bootstrap()
        except (OpenSearchConnectionError, TransportError) as exc:
            if isinstance(exc, NotFoundError):
                raise IndexUnavailableError(f"keyword index {self.name!r} is unavailable: {exc}") from exc
            raise IndexUnavailableError(f"cannot open keyword index {self.name!r}: {exc}") from exc

    # -- writes (buffered until flush) ---------------------------------------------------------

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        for chunk in chunks:
            check_chunk_of(chunk, tenant, document_id)
        with self._lock:
            self._require_writable()
            self._pending[scoped_key(tenant, document_id)] = (tenant, document_id, tuple(chunks), None)

    def delete_document(self, tenant: str, document_id: str, version: int | None = None) -> None:
        with self._lock:
            self._require_writable()
            self._pending[scoped_key(tenant, document_id)] = (tenant, document_id, (), version)

    def update_access(
        self, tenant: str, document_id: str, metadata: Mapping[str, str], acl: Sequence[str]
    ) -> None:
        with self._lock:
            self._require_writable()
            key = scoped_key(tenant, document_id)
            current = self._pending[key][2] if key in self._pending else self._stored([key])
            if not current:
                return
            # The document's own version only: a stale write may have left chunks of an older one.
            latest = max(chunk.version for chunk in current)
            current = tuple(chunk for chunk in current if chunk.version == latest)
            # Re-indexing the chunks at their own version (external_gte accepts an equal version)
            # keeps "stored version = document version"; a partial _update would bump it.
            updated = [replace(chunk, metadata=dict(metadata), acl=tuple(acl)) for chunk in current]
            self._pending[key] = (tenant, document_id, tuple(updated), None)

    def flush(self) -> None:
        with self._lock:
            self._check_open()
            if self.readonly:
                return
            if self._pending:
                self._send(self._pending)
                self._pending.clear()
            self._call(lambda: self.client.indices.refresh(index=self.name))

    def _release(self) -> None:
        try:
            if self._pending and not self.readonly:
                self.flush()
        finally:
            super()._release()

    # -- reads (refreshed data only) -----------------------------------------------------------

    def search_documents(self, query: str, flt: SearchFilter, limit: int) -> list[DocumentHit]:
        self._check_open()
        parsed = keyword_query(query, flt, limit)
        if parsed is None:
            return []
        body = search_body(text_query(parsed, DOCUMENT_FIELDS), flt, limit, kind=KIND_DOCUMENT)
        return [
            DocumentHit(
                str(hit["_source"]["tenant"]),
                str(hit["_source"]["document_id"]),
                float(hit["_score"] or 0.0),
                int(hit["_source"].get("chunks") or 1),
                int(hit["_source"]["version"]),
            )
            for hit in self._search(body)
        ]

    def best_chunks(self, query: str, flt: SearchFilter, documents: Sequence[DocumentHit]) -> list[Hit]:
        self._check_open()
        parsed = keyword_query(query, flt, len(documents))
        if parsed is None:
            return []
        # Every chunk of the documents is a candidate, so each document gets its best one.
        keys = [scoped_key(doc.tenant, doc.document_id) for doc in documents]
        body = search_body(
            text_query(parsed, CHUNK_FIELDS), flt, sum(doc.chunks for doc in documents), doc_keys=keys
        )
        chunks = [chunk_from_source(hit["_source"]) for hit in self._search(body)]
        return rank_by_document(documents, chunks, lambda keys: self._stored(keys, flt))

    def _search(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        response = self._call(lambda: self.client.search(index=self.name, body=body))
        return list(response["hits"]["hits"])

    def chunk_ids(self, tenant: str, document_id: str) -> list[str]:
        self._check_open()
        return [chunk.chunk_id for chunk in self._stored([scoped_key(tenant, document_id)])]

    def count(self) -> int:
        self._check_open()
        body = {"query": {"term": {"kind": KIND_CHUNK}}}
        response = self._call(lambda: self.client.count(index=self.name, body=body))
        return int(response["count"])

    # -- helpers -------------------------------------------------------------------------------

    def _call(self, request: Any) -> Any:
        try:
            return request()
        except (OpenSearchConnectionError, TransportError) as exc:
            if isinstance(exc, OpenSearchConnectionError):
                raise IndexUnavailableError(f"OpenSearch is unreachable for {self.name!r}: {exc}") from exc
            raise ReadModelError(f"OpenSearch request on {self.name!r} failed: {exc}") from exc

    def _scan(self, query: Mapping[str, Any], sort: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        """Every matching hit, paged with search_after (no result window limit)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": _PAGE,
                "query": dict(query),
                "sort": sort,
                "_source": SOURCE_FIELDS,
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            hits = self._call(lambda body=body: self.client.search(index=self.name, body=body))["hits"][
                "hits"
            ]
            yield from hits
            if len(hits) < _PAGE:
                return
            after = hits[-1]["sort"]

    def _stored(self, keys: Sequence[str], flt: SearchFilter | None = None) -> list[IndexedChunk]:
        """The stored chunks of the documents `keys`, by document, version and number; only those
        passing `flt` where one is given (a document that passed it when found may have lost access
        since). The document key leads the sort: search_after pages need a total order."""
        filters = [{"terms": {"doc_key": list(keys)}}, _KIND_CHUNK, *(filter_clauses(flt) if flt else [])]
        sort = [{"doc_key": "asc"}, {"version": "asc"}, {"chunk_number": "asc"}]
        return [chunk_from_source(hit["_source"]) for hit in self._scan({"bool": {"filter": filters}}, sort)]

    def _stored_slots(self, keys: Sequence[str]) -> dict[str, dict[int, int]]:
        """Stored chunk slots (chunk number -> version) of each document key."""
        slots: dict[str, dict[int, int]] = {key: {} for key in keys}
        for start in range(0, len(keys), _PAGE):
            batch = list(keys[start : start + _PAGE])
            query = {"terms": {"doc_key": batch}}
            sort = [{"doc_key": "asc"}, {"chunk_number": "asc"}]
            for hit in self._scan(query, sort):
                source = hit["_source"]
                key = scoped_key(str(source["tenant"]), str(source["document_id"]))
                number, version = int(source["chunk_number"]), int(source["version"])
                slots[key][number] = max(version, slots[key].get(number, version))
        return slots

    def _send(self, pending: Mapping[str, _Pending]) -> None:
        stored = self._stored_slots(list(pending))
        lines: list[dict[str, Any]] = []
        for key, (tenant, document_id, chunks, deleted_at) in pending.items():
            lines += document_actions(self.name, tenant, document_id, chunks, stored[key], deleted_at)
        if not lines:
            return
        # Bulk lines must name a concrete index or an alias with a write index; ours has one.
        response = self._call(lambda: self.client.bulk(body=lines))
        outcome = bulk_outcome(response)
        if outcome.stale:
            log.info(
                "keyword index %s: %d stale writes ignored (a newer version is stored)",
                self.name,
                outcome.stale,
            )
        if outcome.errors:
            # Nothing is lost: the pending writes stay queued, and resending them is idempotent.
            raise ReadModelError(
                f"{len(outcome.errors)} bulk writes to {self.name!r} failed, e.g. {outcome.errors[:3]}"
            )


def make_client(
    url: str,
    *,
    username: str = "",
    password: str = "",
    verify_certs: bool = True,
    ca_certs: str | None = None,
    timeout_s: float = 30.0,
) -> OpenSearch:
    kwargs: dict[str, Any] = {
        "hosts": [url],
        "timeout": timeout_s,
        "verify_certs": verify_certs,
        "ssl_show_warn": verify_certs,
        # Retries cover a node restarting under a rolling upgrade; writes are idempotent.
        "max_retries": 3,
        "retry_on_timeout": True,
    }
    if username:
        kwargs["http_auth"] = (username, password)
    if ca_certs:
        kwargs["ca_certs"] = ca_certs
    return OpenSearch(**kwargs)
