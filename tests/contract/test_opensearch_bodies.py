"""The OpenSearch adapter's request bodies and response handling, checked without a node."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ragstream.queries.readmodels.base import SearchFilter
from ragstream.queries.readmodels.exceptions import IndexUnavailableError
from ragstream.queries.readmodels.generations import generation_name, generation_number
from ragstream.queries.readmodels.keyword_text import DOCUMENT_ENTRY, STOP_WORDS, parse_keyword_query
from ragstream.queries.readmodels.opensearch_bodies import (
    ANALYZER,
    CHUNK_ANALYZER,
    IndexOptions,
    bulk_outcome,
    chunk_from_source,
    chunk_source,
    document_actions,
    filter_clauses,
    index_template,
    search_body,
    slot_id,
    text_query,
)
from ragstream.queries.readmodels.opensearch_index import OpenSearchKeywordIndex
from ragstream.queries.readmodels.terms import PUBLIC_ACL
from tests.contract.factory import make_chunk

pytestmark = pytest.mark.unit


def test_slot_ids_are_tenant_scoped_and_version_free() -> None:
    assert slot_id("acme", "doc", 0) == slot_id("acme", "doc", 0)
    assert slot_id("acme", "doc", 0) != slot_id("globex", "doc", 0)
    assert slot_id("acme", "doc", 0) != slot_id("acme", "doc", 1)
    # "a" + "b#c0" and "a#b" + "c0"-style collisions cannot happen: the pair is JSON-encoded.
    assert slot_id("a", "b", 0) != slot_id("a#b", "", 0)


def test_long_slot_ids_are_hashed_below_the_id_limit() -> None:
    long_id = "x" * 600
    key = slot_id("acme", long_id, 3)
    assert key.startswith("sha256:")
    assert len(key.encode()) <= 512
    assert key != slot_id("acme", long_id, 4)


def test_replace_indexes_new_slots_and_deletes_dropped_ones_at_the_new_version() -> None:
    chunks = [make_chunk("doc", n, "text", version=5) for n in range(2)]
    lines = document_actions("idx", "acme", "doc", chunks, stored={0: 4, 1: 4, 2: 4, 3: 4})

    actions = [line for line in lines if {"index", "delete"} & line.keys()]
    # Two chunks, then the whole-document entry, then the slots the new version no longer has.
    assert [next(iter(action)) for action in actions] == ["index", "index", "index", "delete", "delete"]
    for action in actions:
        meta = next(iter(action.values()))
        assert meta["_index"] == "idx"
        assert meta["version"] == 5
        assert meta["version_type"] == "external_gte"
    assert [next(iter(a.values()))["_id"] for a in actions[3:]] == [slot_id("acme", "doc", n) for n in (2, 3)]
    # Each index action is followed by its source.
    assert lines[1]["chunk_id"] == "doc#v5#c0"


def test_delete_writes_tombstones_above_the_stored_versions() -> None:
    lines = document_actions("idx", "acme", "doc", [], stored={0: 3, 1: 7})

    assert lines == [
        {
            "delete": {
                "_index": "idx",
                "_id": slot_id("acme", "doc", 0),
                "version": 4,
                "version_type": "external_gte",
            }
        },
        {
            "delete": {
                "_index": "idx",
                "_id": slot_id("acme", "doc", 1),
                "version": 8,
                "version_type": "external_gte",
            }
        },
    ]
    assert document_actions("idx", "acme", "unknown", [], stored={}) == []


def test_a_delete_of_known_version_tombstones_at_it_and_always_the_document_entry() -> None:
    def tombstones(lines: list[dict[str, Any]]) -> dict[str, int]:
        return {line["delete"]["_id"]: line["delete"]["version"] for line in lines}

    # Stored at 3 (a rebuild's new generation), deleted at 5: a later write of version 4 (its
    # catch-up replaying what a worker wrote into the old generation) must lose everywhere.
    lines = document_actions("idx", "acme", "doc", [], stored={0: 3, 1: 3, DOCUMENT_ENTRY: 3}, deleted_at=5)
    assert tombstones(lines) == {slot_id("acme", "doc", n): 5 for n in (0, 1, DOCUMENT_ENTRY)}
    # Never held here: the document entry's tombstone still keeps an older version from being found.
    assert tombstones(document_actions("idx", "acme", "doc", [], stored={}, deleted_at=5)) == {
        slot_id("acme", "doc", DOCUMENT_ENTRY): 5
    }
    # A stale delete (a newer version is stored) conflicts instead of removing it.
    assert tombstones(document_actions("idx", "acme", "doc", [], stored={0: 6}, deleted_at=5)) == {
        slot_id("acme", "doc", 0): 5,
        slot_id("acme", "doc", DOCUMENT_ENTRY): 5,
    }


def test_bulk_outcome_treats_version_conflicts_as_stale_not_as_errors() -> None:
    response = {
        "errors": True,
        "items": [
            {"index": {"_id": "a", "status": 201}},
            {"index": {"_id": "b", "status": 409, "error": {"type": "version_conflict_engine_exception"}}},
            {"delete": {"_id": "c", "status": 404, "result": "not_found"}},
            {"index": {"_id": "d", "status": 400, "error": {"type": "mapper_parsing_exception"}}},
        ],
    }
    outcome = bulk_outcome(response)
    assert (outcome.applied, outcome.stale) == (2, 1)
    assert len(outcome.errors) == 1
    assert "mapper_parsing_exception" in outcome.errors[0]


def test_filters_are_exact_terms_inside_the_query() -> None:
    flt = SearchFilter(
        "acme", principals=["user:bob", "user:bob"], metadata={"lang": "en"}, document_ids=["d"]
    )
    clauses = filter_clauses(flt)
    assert clauses[0] == {"term": {"tenant": "acme"}}
    assert clauses[1] == {"terms": {"acl": ["user:bob", PUBLIC_ACL]}}
    assert clauses[2] == {"term": {"meta": '["lang","en"]'}}
    assert clauses[3] == {"terms": {"document_id": ["d"]}}

    parsed = parse_keyword_query("apples")
    assert parsed is not None
    body = search_body(text_query(parsed, ["text"]), flt, 7)
    assert body["size"] == 7
    assert body["query"]["bool"]["filter"] == [{"term": {"kind": "chunk"}}, *clauses]
    assert filter_clauses(SearchFilter("acme")) == [{"term": {"tenant": "acme"}}]


def test_user_text_becomes_words_and_phrases_without_query_syntax() -> None:
    parsed = parse_keyword_query('tenant:globex IL-6 "Change  Log" NOT (apples')
    assert parsed is not None
    query = text_query(parsed, ["body"])["bool"]
    assert query["minimum_should_match"] == 1
    assert query["should"] == [
        {
            "multi_match": {
                "query": "tenant globex il 6 not apples",
                "fields": ["body"],
                "type": "most_fields",
            }
        },
        {"multi_match": {"query": "change log", "fields": ["body"], "type": "phrase"}},
    ]
    assert parse_keyword_query("(( :: ))") is None


def test_documents_are_ranked_by_their_whole_document_entry() -> None:
    chunks = [make_chunk("doc-1", 0, "kafka streams"), make_chunk("doc-1", 1, "feed the index")]
    lines = document_actions("gen", "acme", "doc-1", chunks, {})
    entry = lines[-1]
    assert lines[-2]["index"]["_id"] == slot_id("acme", "doc-1", -1)
    assert entry["kind"] == "document"
    assert entry["body"] == "kafka streams\nfeed the index"
    assert entry["chunks"] == 2
    flt = SearchFilter("acme")
    body = search_body(text_query(parse_keyword_query("kafka"), ["body"]), flt, 5, kind="document")  # type: ignore[arg-type]
    assert body["query"]["bool"]["filter"][0] == {"term": {"kind": "document"}}


def test_template_sets_refresh_on_flush_strict_mappings_and_the_english_analyzer() -> None:
    body = index_template("chunks", IndexOptions(shards=2, replicas=1, gc_deletes="2h"))
    assert body["index_patterns"] == ["chunks-g*"]
    settings = body["template"]["settings"]
    assert settings["index"] == {
        "number_of_shards": 2,
        "number_of_replicas": 1,
        "refresh_interval": "-1",
        "gc_deletes": "2h",
    }
    analyzer = settings["analysis"]["analyzer"][ANALYZER]
    assert analyzer["tokenizer"] == "standard"
    assert "lowercase" in analyzer["filter"]
    # The same stop words, stemmer and BM25 parameters as the Tantivy index, so both rank alike.
    filters = settings["analysis"]["filter"]
    assert filters["ragstream_english_stop"]["stopwords"] == list(STOP_WORDS)
    assert filters["ragstream_english_stemmer"]["language"] == "porter2"
    assert settings["similarity"]["default"] == {"type": "BM25", "k1": 1.2, "b": 0.75}
    mappings = body["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    assert mappings["properties"]["body"]["analyzer"] == ANALYZER
    assert mappings["properties"]["text"]["analyzer"] == CHUNK_ANALYZER
    assert mappings["properties"]["title"]["analyzer"] == CHUNK_ANALYZER
    assert mappings["properties"]["metadata"] == {"type": "object", "enabled": False}


def test_generation_names_round_trip() -> None:
    assert generation_name("chunks", 12) == "chunks-g000012"
    assert generation_number("chunks", "chunks-g000012") == 12
    assert generation_number("chunks", "chunks-g12") is None
    assert generation_number("chunks", "other-g000012") is None
    assert generation_number("chunks", "chunks") is None


def test_chunk_source_round_trips() -> None:
    chunk = make_chunk("doc", 2, "text", version=3, title="T", metadata={"a.b": "c"}, acl=["user:alice"])
    source = chunk_source(chunk)
    assert source["acl"] == ["user:alice"]
    assert chunk_from_source(source) == chunk
    public = make_chunk("doc", 0, "text")
    assert chunk_source(public)["acl"] == [PUBLIC_ACL]
    assert chunk_from_source(chunk_source(public)).acl == ()


def test_unreachable_cluster_fails_clearly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # Bound but not listening: connections are refused.
        with pytest.raises(IndexUnavailableError, match="chunks"):
            OpenSearchKeywordIndex.connect(f"http://127.0.0.1:{port}", "chunks", timeout_s=2)
