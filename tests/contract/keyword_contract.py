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

    def hits_per_document(self, matching_chunks: int) -> int:
        return 1

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

    def test_title_is_searched(self, index: SearchIndex) -> None:
        in_title = make_chunk("doc-1", 0, "the figures for this period", title="Quarterly revenue")
        elsewhere = make_chunk("doc-2", 0, "the figures for that period", title="Summary")
        self.put(index, in_title, elsewhere)

        assert hit_ids(self.find(index, "quarterly", SearchFilter(TENANT))) == [in_title.chunk_id]

    # -- documents are ranked, chunks are cited ---------------------------------------------------

    def test_one_hit_per_document_its_best_chunk(self, index: SearchIndex) -> None:
        weak = self.chunk("doc-1", 0, "apples", weak=True)
        strong = self.chunk("doc-1", 1, "apples")
        other = self.chunk("doc-2", 0, "apples", weak=True)
        self.put(index, weak, strong, other)

        hits = self.find(index, "apples", SearchFilter(TENANT))
        assert hit_ids(hits) == [strong.chunk_id, other.chunk_id]

    def test_documents_are_scored_whole(self, index: SearchIndex) -> None:
        # doc-1 holds both words, one per chunk; doc-2 holds one word, in a chunk that scores it
        # higher than any chunk of doc-1. Scored by chunk, doc-2 would rank first.
        split = [
            make_chunk("doc-1", 0, f"apples {_FILLER}", title="Fruit"),
            make_chunk("doc-1", 1, f"cherries {_FILLER}", title="Fruit"),
        ]
        one_word = make_chunk("doc-2", 0, "apples apples apples", title="Fruit")
        self.put(index, *split, one_word)

        hits = self.find(index, "apples cherries", SearchFilter(TENANT))
        assert [hit.chunk.document_id for hit in hits] == ["doc-1", "doc-2"]
        assert hits[0].score > hits[1].score

    def test_overlapping_chunks_count_their_shared_words_once(self, index: SearchIndex) -> None:
        # The chunker repeats a tail of each chunk at the start of the next; the document entry is
        # rebuilt from the spans, so doc-1 has "kafka" once, like doc-2, and they score alike.
        text = "kafka streams feed the index"
        overlapping = [
            IndexedChunk(TENANT, "doc-1", 1, 0, text[:11], start=0, end=11),
            IndexedChunk(TENANT, "doc-1", 1, 1, text[6:], start=6, end=len(text)),
        ]
        whole = IndexedChunk(TENANT, "doc-2", 1, 0, text, start=0, end=len(text))
        self.put(index, *overlapping, whole)

        first, second = self.find(index, "kafka", SearchFilter(TENANT))
        assert first.score == pytest.approx(second.score)

    # -- documents first, chunks for the documents a caller shows -------------------------------

    def test_documents_then_their_best_chunks_are_the_search(self, index: SearchIndex) -> None:
        assert isinstance(index, KeywordIndex)
        strong, weak = self.chunk("doc-1", 1, "apples"), self.chunk("doc-1", 0, "apples", weak=True)
        self.put(
            index, weak, strong, self.chunk("doc-2", 0, "apples", weak=True), self.chunk("doc-3", 0, "pears")
        )
        flt = SearchFilter(TENANT)

        documents = index.search_documents("apples", flt, 10)
        assert [(d.document_id, d.chunks) for d in documents] == [("doc-1", 2), ("doc-2", 1)]
        hits = index.search("apples", flt, 10)
        assert index.best_chunks("apples", flt, documents) == hits
        assert [hit.score for hit in hits] == [d.score for d in documents]
        # Any subset, in the order asked for: a caller looks up only the documents it shows.
        assert index.best_chunks("apples", flt, documents[::-1]) == hits[::-1]
        assert hit_ids(index.best_chunks("apples", flt, documents[:1])) == [strong.chunk_id]

    def test_a_document_deleted_after_it_was_found_is_left_out(self, index: SearchIndex) -> None:
        assert isinstance(index, KeywordIndex)
        self.put(index, self.chunk("doc-1", 0, "apples"), self.chunk("doc-2", 0, "apples", weak=True))
        documents = index.search_documents("apples", SearchFilter(TENANT), 10)
        index.delete_document(TENANT, "doc-1")
        index.flush()

        assert [
            hit.chunk.document_id for hit in index.best_chunks("apples", SearchFilter(TENANT), documents)
        ] == ["doc-2"]

    def test_best_chunks_apply_the_filter(self, index: SearchIndex) -> None:
        assert isinstance(index, KeywordIndex)
        self.put(index, self.chunk("doc-1", 0, "apples", acl=["group:eng"]))
        [found] = index.search_documents("apples", SearchFilter(TENANT), 10)

        assert index.best_chunks("apples", SearchFilter(TENANT, principals=["group:sales"]), [found]) == []
        assert index.best_chunks("apples", SearchFilter(OTHER_TENANT), [found]) == []

    def test_query_syntax_is_read_as_words(self, index: SearchIndex) -> None:
        # "-" is a hyphen in a claim such as "IL-6 is not expressed", never a negation.
        both = self.chunk("doc-1", 0, "apples bananas")
        self.put(index, both)

        assert hit_ids(self.find(index, "apples -bananas", SearchFilter(TENANT))) == [both.chunk_id]
        assert hit_ids(self.find(index, "NOT bananas", SearchFilter(TENANT))) == [both.chunk_id]

    def test_phrase_across_a_chunk_boundary_cites_the_first_chunk(self, index: SearchIndex) -> None:
        chunks = [make_chunk("doc-1", 0, "the change"), make_chunk("doc-1", 1, "log drives the index")]
        self.put(index, *chunks)

        assert hit_ids(self.find(index, '"change log"', SearchFilter(TENANT))) == [chunks[0].chunk_id]

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
