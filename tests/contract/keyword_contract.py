"""Contract of every `KeywordIndex` backend: subclass `KeywordIndexContract` and implement
`make_index` (and `make_reader` when the backend supports a second, search-only instance)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from ragstream.queries.readmodels.base import Hit, IndexedChunk, KeywordIndex, SearchFilter, SearchIndex
from tests.contract.factory import hit_ids, make_chunk
from tests.contract.search_contract import OTHER_TENANT, TENANT, SearchIndexContract

pytestmark = pytest.mark.contract

# Padding that dilutes a weak chunk's term frequency, so BM25 ranks it below the strong ones.
_FILLER = "with plenty of unrelated filler words about weather travel history music and sports"

GARBAGE_QUERIES = [
    "apples AND (",
    '"apples',
    "title:",
    "text:",
    "((((",
    "))))",
    "a:b:c",
    ":",
    "+",
    "-",
    "^2",
    "apples^",
    "[1 TO",
    "{* TO",
    "NOT",
    "AND OR",
    "\\",
    "'",
    "apples~",
    "*",
    "?",
    "apples\x00",
    "tenant:",
    "version:3",
    "äpfel ßtraße 日本語",
]


class KeywordIndexContract(SearchIndexContract):
    @abstractmethod
    def make_index(self, path: Path) -> KeywordIndex:
        """Open (creating if needed) a writable index stored under `path`."""

    def make_reader(self, path: Path) -> KeywordIndex:
        """Open a second, search-only instance on an index another instance writes to."""
        pytest.skip("this backend has no separate read-only instance")

    # -- SearchIndexContract hooks ---------------------------------------------------------------

    def open_index(self, path: Path) -> SearchIndex:
        return self.make_index(path)

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
        text = f"a note on {topic} {_FILLER}" if weak else f"{topic} {topic} and more {topic}"
        return make_chunk(
            document_id,
            chunk_number,
            text,
            tenant=tenant,
            version=version,
            title=f"Chapter {chunk_number}",
            metadata=metadata,
            acl=acl,
        )

    def find(self, index: SearchIndex, topic: str, flt: SearchFilter, limit: int = 100) -> list[Hit]:
        assert isinstance(index, KeywordIndex)
        return index.search(topic, flt, limit)

    # -- keyword-specific behaviour --------------------------------------------------------------

    def test_implements_the_protocol(self, index: SearchIndex) -> None:
        assert isinstance(index, KeywordIndex)

    def test_unflushed_writes_are_not_searched(self, index: SearchIndex) -> None:
        # Commit points are what make a replace atomic for readers.
        index.replace_document(TENANT, "doc-1", [self.chunk("doc-1", 0, "apples")])

        assert self.find(index, "apples", SearchFilter(TENANT)) == []
        index.flush()
        assert len(self.find(index, "apples", SearchFilter(TENANT))) == 1

    @pytest.mark.parametrize("query", ["running", "runs", "run", "RUNNING"])
    def test_english_stemming_matches_inflections(self, index: SearchIndex, query: str) -> None:
        runs = make_chunk("doc-1", 0, "The service runs every night")
        run = make_chunk("doc-2", 0, "Schedule a run of the batch job")
        self.put(index, runs, run)

        assert set(hit_ids(self.find(index, query, SearchFilter(TENANT)))) == {runs.chunk_id, run.chunk_id}

    def test_title_is_searched_and_boosted(self, index: SearchIndex) -> None:
        in_title = make_chunk("doc-1", 0, "the figures for this period", title="Quarterly revenue")
        in_text = make_chunk("doc-2", 0, "quarterly figures for this period", title="Summary")
        self.put(index, in_title, in_text)

        hits = self.find(index, "quarterly", SearchFilter(TENANT))
        assert hit_ids(hits) == [in_title.chunk_id, in_text.chunk_id]

    def test_phrase_query_matches_adjacent_words(self, index: SearchIndex) -> None:
        phrase = make_chunk("doc-1", 0, "the change log drives the index")
        scattered = make_chunk("doc-2", 0, "the log shows every change")
        self.put(index, phrase, scattered)

        assert hit_ids(self.find(index, '"change log"', SearchFilter(TENANT))) == [phrase.chunk_id]

    @pytest.mark.parametrize("query", GARBAGE_QUERIES)
    def test_malformed_queries_never_raise(self, index: SearchIndex, query: str) -> None:
        visible = self.chunk("doc-1", 0, "apples")
        restricted = self.chunk("doc-2", 0, "apples", acl=["user:alice"])
        foreign = self.chunk("doc-3", 0, "apples", tenant=OTHER_TENANT)
        self.put(index, visible, restricted, foreign)

        hits = self.find(index, query, SearchFilter(TENANT, principals=["user:bob"]))
        # Whatever the parser salvages, the filters still hold.
        assert set(hit_ids(hits)) <= {visible.chunk_id}

    @pytest.mark.parametrize("query", ['"apples', "apples AND (", "apples)", "apples^"])
    def test_malformed_queries_keep_their_usable_words(self, index: SearchIndex, query: str) -> None:
        chunk = self.chunk("doc-1", 0, "apples")
        self.put(index, chunk)

        assert hit_ids(self.find(index, query, SearchFilter(TENANT))) == [chunk.chunk_id]

    @pytest.mark.parametrize(
        "query",
        [
            "tenant:globex",
            "acl:user\\:alice",
            "acl:__public__ OR apples",
            "document_id:doc-2 OR apples",
            "apples OR tenant:globex OR acl:user\\:alice",
        ],
    )
    def test_field_syntax_cannot_escape_the_filters(self, index: SearchIndex, query: str) -> None:
        visible = self.chunk("doc-1", 0, "apples")
        restricted = self.chunk("doc-2", 0, "apples", acl=["user:alice"])
        foreign = self.chunk("doc-3", 0, "apples", tenant=OTHER_TENANT)
        self.put(index, visible, restricted, foreign)

        hits = self.find(index, query, SearchFilter(TENANT, principals=["user:bob"]))
        assert set(hit_ids(hits)) <= {visible.chunk_id}

    @pytest.mark.parametrize("query", ["", " ", "\n\t  "])
    def test_blank_query_returns_nothing(self, index: SearchIndex, query: str) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"))

        assert self.find(index, query, SearchFilter(TENANT)) == []

    def test_reader_sees_writes_after_flush(self, index: SearchIndex, index_path: Path) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"))
        reader = self.make_reader(index_path)
        try:
            assert len(self.find(reader, "apples", SearchFilter(TENANT))) == 1

            self.put(index, self.chunk("doc-2", 0, "apples"))
            index.delete_document(TENANT, "doc-1")
            assert len(self.find(reader, "apples", SearchFilter(TENANT))) == 2  # not flushed yet

            index.flush()
            assert hit_ids(self.find(reader, "apples", SearchFilter(TENANT))) == ["doc-2#v1#c0"]
            assert reader.count() == 1
            assert reader.chunk_ids(TENANT, "doc-2") == ["doc-2#v1#c0"]
        finally:
            reader.close()
