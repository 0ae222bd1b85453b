"""Behaviour every search read model shares, whatever it searches with (text or vectors).

Subclasses say how a *topic* becomes chunk content and a query; the tests only reason about
topics, filters and chunk ids, so the same assertions hold for BM25 and for cosine similarity.
Vector search returns neighbours however far they are, so the tests check which ids come back
(with a generous limit) instead of expecting empty results.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from ragstream.queries.readmodels.base import DocumentChunks, Hit, IndexedChunk, SearchFilter, SearchIndex
from ragstream.queries.readmodels.exceptions import IndexClosedError
from tests.contract.factory import hit_ids, without_vector

TOPICS = ("apples", "bananas", "cherries", "mangoes", "kafka", "lemons", "olives", "grapes")
TENANT = "acme"
OTHER_TENANT = "globex"
MANY = 100


@pytest.mark.contract
class SearchIndexContract(ABC):
    @abstractmethod
    def open_index(self, path: Path) -> SearchIndex:
        """Open (creating if needed) the backend's index stored under `path`."""

    @abstractmethod
    def chunk(
        self,
        document_id: str,
        chunk_number: int,
        topic: str,
        *,
        weak: bool = False,
        tenant: str = TENANT,
        version: int = 1,
        metadata: Mapping[str, str] | None = None,
        acl: Sequence[str] = (),
    ) -> IndexedChunk:
        """A chunk about `topic`; a weak one still matches the topic, but ranks below strong ones."""

    @abstractmethod
    def find(self, index: SearchIndex, topic: str, flt: SearchFilter, limit: int = MANY) -> list[Hit]:
        """Search `index` for `topic`."""

    @pytest.fixture
    def index_path(self, tmp_path: Path) -> Path:
        return tmp_path / "index"

    @pytest.fixture
    def index(self, index_path: Path) -> Iterator[SearchIndex]:
        index = self.open_index(index_path)
        yield index
        index.close()

    def hits_per_document(self, matching_chunks: int) -> int:
        """How many hits a document with that many matching chunks gives: every chunk here; a
        keyword index ranks documents and gives one, the document's best chunk."""
        return matching_chunks

    def put(self, index: SearchIndex, *chunks: IndexedChunk) -> None:
        """Replace each mentioned document with the given chunks, then flush."""
        by_document: dict[tuple[str, str], list[IndexedChunk]] = {}
        for chunk in chunks:
            by_document.setdefault((chunk.tenant, chunk.document_id), []).append(chunk)
        for (tenant, document_id), document_chunks in by_document.items():
            index.replace_document(tenant, document_id, document_chunks)
        index.flush()

    # -- replace ---------------------------------------------------------------------------------

    def test_flush_makes_replaced_chunks_searchable(self, index: SearchIndex) -> None:
        first, second = self.chunk("doc-1", 0, "apples"), self.chunk("doc-1", 1, "apples")
        self.put(index, first, second)

        ids = hit_ids(self.find(index, "apples", SearchFilter(TENANT)))
        assert set(ids) <= {first.chunk_id, second.chunk_id}
        assert len(ids) == self.hits_per_document(2)

    def test_replace_hides_the_previous_version(self, index: SearchIndex) -> None:
        old = self.chunk("doc-1", 0, "apples", version=1)
        new = self.chunk("doc-1", 0, "bananas", version=2)
        self.put(index, old)
        self.put(index, new)

        assert old.chunk_id not in hit_ids(self.find(index, "apples", SearchFilter(TENANT)))
        hits = self.find(index, "bananas", SearchFilter(TENANT))
        assert hit_ids(hits)[0] == new.chunk_id
        assert hits[0].chunk.version == 2
        assert index.chunk_ids(TENANT, "doc-1") == [new.chunk_id]

    def test_replace_with_fewer_chunks_drops_the_rest(self, index: SearchIndex) -> None:
        self.put(index, *(self.chunk("doc-1", n, "apples") for n in range(3)))
        kept = self.chunk("doc-1", 0, "apples")
        self.put(index, kept)

        assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == [kept.chunk_id]
        assert index.count() == 1

    def test_redelivered_replace_does_not_duplicate(self, index: SearchIndex) -> None:
        chunks = [self.chunk("doc-1", n, "apples") for n in range(2)]
        index.replace_document(TENANT, "doc-1", chunks)
        index.replace_document(TENANT, "doc-1", chunks)
        index.flush()
        index.replace_document(TENANT, "doc-1", chunks)
        index.flush()

        ids = hit_ids(self.find(index, "apples", SearchFilter(TENANT)))
        assert set(ids) <= {chunk.chunk_id for chunk in chunks}
        assert len(ids) == self.hits_per_document(2)
        assert index.count() == 2
        assert index.chunk_ids(TENANT, "doc-1") == [chunk.chunk_id for chunk in chunks]

    def test_bulk_replace_of_new_and_known_documents_matches_one_by_one(self, index: SearchIndex) -> None:
        self.put(index, *(self.chunk("known", n, "apples") for n in range(3)))
        known = [self.chunk("known", 0, "bananas", version=2)]  # fewer chunks than before
        fresh = [self.chunk("fresh", n, "cherries") for n in range(2)]
        index.replace_documents(
            [DocumentChunks(TENANT, "known", known), DocumentChunks(TENANT, "fresh", fresh, new=True)]
        )
        index.flush()

        assert index.chunk_ids(TENANT, "known") == [known[0].chunk_id]
        assert index.chunk_ids(TENANT, "fresh") == [c.chunk_id for c in fresh]
        assert index.count() == 3
        assert hit_ids(self.find(index, "bananas", SearchFilter(TENANT)))[0] == known[0].chunk_id

    def test_hit_round_trips_every_chunk_field(self, index: SearchIndex) -> None:
        chunk = self.chunk(
            "doc-1", 3, "apples", version=7, metadata={"lang": "en", "source": "wiki"}, acl=["user:alice"]
        )
        self.put(index, chunk)

        [hit] = self.find(index, "apples", SearchFilter(TENANT))
        assert without_vector(hit.chunk) == without_vector(chunk)
        assert hit.score > 0

    def test_a_chunks_location_in_its_original_round_trips_and_survives_access_changes(
        self, index: SearchIndex
    ) -> None:
        chunk = replace(self.chunk("doc-1", 0, "apples", metadata={"lang": "en"}), location="page 2")
        self.put(index, chunk)
        index.update_access(TENANT, "doc-1", {"lang": "de"}, [])
        index.flush()

        [hit] = self.find(index, "apples", SearchFilter(TENANT))
        assert (hit.chunk.location, dict(hit.chunk.metadata)) == ("page 2", {"lang": "de"})

    # -- delete ----------------------------------------------------------------------------------

    def test_delete_removes_the_document_and_nothing_else(self, index: SearchIndex) -> None:
        gone = [self.chunk("doc-1", n, "apples") for n in range(2)]
        kept = self.chunk("doc-2", 0, "apples")
        self.put(index, *gone, kept)

        index.delete_document(TENANT, "doc-1")
        index.flush()

        assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == [kept.chunk_id]
        assert index.chunk_ids(TENANT, "doc-1") == []
        assert index.chunk_ids(TENANT, "doc-2") == [kept.chunk_id]
        assert index.count() == 1

    def test_delete_of_unknown_document_is_a_no_op(self, index: SearchIndex) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"))

        index.delete_document(TENANT, "never-seen")
        index.flush()

        assert index.count() == 1

    # -- tenants ---------------------------------------------------------------------------------

    def test_same_document_id_in_two_tenants_is_independent(self, index: SearchIndex) -> None:
        ours = self.chunk("doc-1", 0, "apples")
        theirs = self.chunk("doc-1", 0, "apples", tenant=OTHER_TENANT)
        self.put(index, ours, theirs)

        index.replace_document(
            OTHER_TENANT, "doc-1", [self.chunk("doc-1", 0, "bananas", tenant=OTHER_TENANT)]
        )
        index.flush()
        assert index.chunk_ids(TENANT, "doc-1") == [ours.chunk_id]
        assert self.find(index, "apples", SearchFilter(TENANT))[0].chunk == without_vector(ours)

        index.delete_document(TENANT, "doc-1")
        index.flush()
        assert index.chunk_ids(OTHER_TENANT, "doc-1") == [theirs.chunk_id]
        assert index.count() == 1

    def test_search_never_returns_another_tenants_chunk(self, index: SearchIndex) -> None:
        # The other tenant's chunks are the better matches: isolation must not depend on ranking.
        ours = self.chunk("doc-1", 0, "apples", weak=True)
        theirs = [self.chunk(f"doc-{n}", 0, "apples", tenant=OTHER_TENANT) for n in range(5)]
        self.put(index, ours, *theirs)

        for limit in (1, MANY):
            hits = self.find(index, "apples", SearchFilter(TENANT), limit=limit)
            assert hit_ids(hits) == [ours.chunk_id]
        assert self.find(index, "apples", SearchFilter("nobody")) == []

    # -- access control --------------------------------------------------------------------------

    @pytest.mark.parametrize("principals", [None, [], ["user:bob"], ["group:sales", "user:bob"]])
    def test_public_chunk_is_visible_to_anyone(
        self, index: SearchIndex, principals: list[str] | None
    ) -> None:
        public = self.chunk("doc-1", 0, "apples")
        self.put(index, public)

        hits = self.find(index, "apples", SearchFilter(TENANT, principals=principals))
        assert hit_ids(hits) == [public.chunk_id]

    @pytest.mark.parametrize(
        ("principals", "visible"),
        [
            (None, True),
            (["user:alice"], True),
            (["group:eng"], True),
            (["user:bob", "group:eng"], True),
            (["user:bob"], False),
            (["group:sales"], False),
            ([], False),
        ],
    )
    def test_restricted_chunk_needs_a_matching_principal(
        self, index: SearchIndex, principals: list[str] | None, visible: bool
    ) -> None:
        restricted = self.chunk("doc-1", 0, "apples", acl=["user:alice", "group:eng"])
        self.put(index, restricted)

        hits = self.find(index, "apples", SearchFilter(TENANT, principals=principals))
        assert hit_ids(hits) == ([restricted.chunk_id] if visible else [])

    def test_acl_filter_applies_before_the_limit(self, index: SearchIndex) -> None:
        hidden = [self.chunk(f"secret-{n}", 0, "apples", acl=["user:alice"]) for n in range(20)]
        public = self.chunk("doc-public", 0, "apples", weak=True)
        self.put(index, *hidden, public)

        hits = self.find(index, "apples", SearchFilter(TENANT, principals=["user:bob"]), limit=1)
        assert hit_ids(hits) == [public.chunk_id]

    # -- metadata and document filters ----------------------------------------------------------

    def test_metadata_filter_applies_before_the_limit(self, index: SearchIndex) -> None:
        # Many better-scoring chunks fail the filter: a post-filter over the top 1 would find nothing.
        decoys = [self.chunk(f"en-{n}", 0, "apples", metadata={"lang": "en"}) for n in range(30)]
        wanted = self.chunk("de-1", 0, "apples", weak=True, metadata={"lang": "de"})
        self.put(index, *decoys, wanted)

        hits = self.find(index, "apples", SearchFilter(TENANT, metadata={"lang": "de"}), limit=1)
        assert hit_ids(hits) == [wanted.chunk_id]

    def test_every_metadata_constraint_must_hold(self, index: SearchIndex) -> None:
        both = self.chunk("doc-1", 0, "apples", weak=True, metadata={"lang": "de", "kind": "faq"})
        one = self.chunk("doc-2", 0, "apples", metadata={"lang": "de", "kind": "blog"})
        odd_key = self.chunk("doc-3", 0, "apples", metadata={"a=b": "c", "x.y": "z"})
        self.put(index, both, one, odd_key)

        flt = SearchFilter(TENANT, metadata={"lang": "de", "kind": "faq"})
        assert hit_ids(self.find(index, "apples", flt)) == [both.chunk_id]
        # Keys and values are matched exactly, whatever characters they contain.
        flt = SearchFilter(TENANT, metadata={"a=b": "c"})
        assert hit_ids(self.find(index, "apples", flt)) == [odd_key.chunk_id]
        assert self.find(index, "apples", SearchFilter(TENANT, metadata={"a": "b=c"})) == []

    def test_document_ids_filter_applies_before_the_limit(self, index: SearchIndex) -> None:
        decoys = [self.chunk(f"doc-{n}", 0, "apples") for n in range(20)]
        wanted = self.chunk("wanted", 0, "apples", weak=True)
        other = self.chunk("also-wanted", 0, "apples", weak=True)
        self.put(index, *decoys, wanted, other)

        flt = SearchFilter(TENANT, document_ids=["wanted"])
        assert hit_ids(self.find(index, "apples", flt, limit=1)) == [wanted.chunk_id]
        flt = SearchFilter(TENANT, document_ids=["wanted", "also-wanted", "missing"])
        assert set(hit_ids(self.find(index, "apples", flt))) == {wanted.chunk_id, other.chunk_id}

    def test_empty_document_ids_filter_matches_nothing(self, index: SearchIndex) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"))

        assert self.find(index, "apples", SearchFilter(TENANT, document_ids=[])) == []

    # -- update_access ---------------------------------------------------------------------------

    def test_update_access_changes_visibility_and_keeps_content(self, index: SearchIndex) -> None:
        original = [self.chunk("doc-1", n, "apples") for n in range(2)]
        self.put(index, *original)
        bob = SearchFilter(TENANT, principals=["user:bob"])

        index.update_access(TENANT, "doc-1", {"lang": "fr"}, ["user:alice"])
        index.flush()
        assert self.find(index, "apples", bob) == []
        alice_hits = self.find(index, "apples", SearchFilter(TENANT, principals=["user:alice"]))
        assert {hit.chunk.text for hit in alice_hits} <= {chunk.text for chunk in original}
        assert len(alice_hits) == self.hits_per_document(2)
        assert {hit.chunk.metadata["lang"] for hit in alice_hits} == {"fr"}

        index.update_access(TENANT, "doc-1", {}, [])
        index.flush()
        assert len(self.find(index, "apples", bob)) == self.hits_per_document(2)
        assert index.chunk_ids(TENANT, "doc-1") == [chunk.chunk_id for chunk in original]

    def test_update_access_changes_metadata_filtering(self, index: SearchIndex) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples", metadata={"status": "draft"}))

        index.update_access(TENANT, "doc-1", {"status": "final"}, [])
        index.flush()

        assert self.find(index, "apples", SearchFilter(TENANT, metadata={"status": "draft"})) == []
        assert len(self.find(index, "apples", SearchFilter(TENANT, metadata={"status": "final"}))) == 1

    def test_update_access_applies_to_an_unflushed_replace(self, index: SearchIndex) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples", version=1))
        new = self.chunk("doc-1", 0, "bananas", version=2)

        index.replace_document(TENANT, "doc-1", [new])
        index.update_access(TENANT, "doc-1", {}, ["user:alice"])
        index.flush()

        [hit] = self.find(index, "bananas", SearchFilter(TENANT, principals=["user:alice"]))
        assert hit.chunk.chunk_id == new.chunk_id
        assert hit.chunk.acl == ("user:alice",)
        assert index.chunk_ids(TENANT, "doc-1") == [new.chunk_id]

    def test_update_access_of_unknown_document_is_a_no_op(self, index: SearchIndex) -> None:
        index.update_access(TENANT, "never-seen", {"lang": "en"}, ["user:alice"])
        index.flush()

        assert index.count() == 0

    # -- persistence, counting, listing ----------------------------------------------------------

    def test_data_survives_close_and_reopen(self, index: SearchIndex, index_path: Path) -> None:
        chunks = [self.chunk("doc-1", n, "apples") for n in range(3)]
        self.put(index, *chunks)
        index.update_access(TENANT, "doc-1", {"lang": "en"}, ["group:eng"])
        index.flush()
        index.close()

        reopened = self.open_index(index_path)
        try:
            assert reopened.count() == 3
            assert reopened.chunk_ids(TENANT, "doc-1") == [chunk.chunk_id for chunk in chunks]
            flt = SearchFilter(TENANT, principals=["group:eng"], metadata={"lang": "en"})
            assert len(self.find(reopened, "apples", flt)) == self.hits_per_document(3)
            assert self.find(reopened, "apples", SearchFilter(TENANT, principals=["user:bob"])) == []
        finally:
            reopened.close()

    def test_close_is_idempotent(self, index: SearchIndex) -> None:
        index.close()
        index.close()

    def test_use_after_close_fails_clearly(self, index: SearchIndex) -> None:
        chunk = self.chunk("doc-1", 0, "apples")
        self.put(index, chunk)
        index.close()

        with pytest.raises(IndexClosedError, match="is closed"):
            self.find(index, "apples", SearchFilter(TENANT))
        with pytest.raises(IndexClosedError):
            index.replace_document(TENANT, "doc-1", [chunk])
        with pytest.raises(IndexClosedError):
            index.update_access(TENANT, "doc-1", {}, ())
        for read in (index.count, index.flush, lambda: index.chunk_ids(TENANT, "doc-1")):
            with pytest.raises(IndexClosedError):
                read()

    def test_count_tracks_replaces_and_deletes(self, index: SearchIndex) -> None:
        assert index.count() == 0
        self.put(index, *(self.chunk("doc-1", n, "apples") for n in range(3)))
        self.put(index, self.chunk("doc-2", 0, "apples", tenant=OTHER_TENANT))
        assert index.count() == 4

        index.delete_document(TENANT, "doc-1")
        index.flush()
        assert index.count() == 1

    def test_chunk_ids_lists_current_chunks_in_chunk_order(self, index: SearchIndex) -> None:
        # 12 chunks: "c10" sorts before "c2" as a string, so this checks numeric ordering.
        chunks = [self.chunk("doc-1", n, "apples", version=4) for n in reversed(range(12))]
        self.put(index, *chunks)

        assert index.chunk_ids(TENANT, "doc-1") == [chunk.chunk_id for chunk in reversed(chunks)]
        assert index.chunk_ids(TENANT, "never-seen") == []
        assert index.chunk_ids(OTHER_TENANT, "doc-1") == []

    def test_limit_caps_the_results(self, index: SearchIndex) -> None:
        self.put(index, *(self.chunk(f"doc-{n}", 0, "apples") for n in range(5)))

        assert len(self.find(index, "apples", SearchFilter(TENANT), limit=3)) == 3
        assert self.find(index, "apples", SearchFilter(TENANT), limit=0) == []

    def test_results_are_ranked_by_descending_score(self, index: SearchIndex) -> None:
        weak = self.chunk("doc-weak", 0, "apples", weak=True)
        strong = self.chunk("doc-strong", 0, "apples")
        self.put(index, weak, strong)

        hits = self.find(index, "apples", SearchFilter(TENANT))
        assert hit_ids(hits)[:2] == [strong.chunk_id, weak.chunk_id]
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
