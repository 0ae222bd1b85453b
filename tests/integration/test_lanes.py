"""The edit lane on the real stack: an edit written after a bulk import is searchable before the
import is, and whichever lane reaches a read model last, the newest version of a document stays."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from opensearchpy.exceptions import NotFoundError

from ragstream.commands.sdk import CommandProducer, WrittenCommand
from ragstream.contracts import DeleteDocument, UpsertDocument, consistency_token
from ragstream.local.pipeline import LocalPipeline
from ragstream.queries.projections.shared_indexes import SharedIndexProjector
from ragstream.queries.readmodels.base import SearchFilter
from ragstream.queries.readmodels.opensearch_index import OpenSearchKeywordIndex
from ragstream.queries.readmodels.shared import SharedIndexes
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.records import LogRecord
from ragstream.settings import Settings
from ragstream.topics import LANE_HEADER, Lane, position_key
from tests.integration.helpers import search, wait_for_token, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOPIC = "t.document-embeddings"
# Enough passages for several model calls of the bulk lane (96 passages each), so the import is
# still being embedded when the edit written after it arrives, with a margin for a fast machine.
BULK_DOCUMENTS = 60
SENTENCE = "Bulk import paragraph {n} about {word} and how a stream of change records feeds a bulkmarker. "
# Texts new to every run: the embedding cache would otherwise answer a rerun's import without the model.
RUN = uuid.uuid4().hex[:8]


def bulk_document(n: int) -> UpsertDocument:
    # About ten chunks each: paragraphs of several sentences, every one naming the document.
    paragraphs = "\n\n".join(SENTENCE.format(n=p, word=f"bulkword{n} run{RUN}") * 6 for p in range(10))
    return UpsertDocument(document_id=f"bulk-{n}", title=f"Bulk {n}", content=paragraphs)


async def produce(settings: Settings, commands: list[Any], lane: Lane) -> list[WrittenCommand]:
    async with CommandProducer(settings) as producer:
        return await producer.send_many(commands, lane=lane)


@pytest.fixture(scope="module")
def pipeline_env(pipeline_env: dict[str, str]) -> dict[str, str]:
    # One partition: every document of the import is then written before the edit in every topic,
    # so without a lane of its own the edit could only come after all of them, whichever partition
    # the workers happen to fetch first.
    return {**pipeline_env, "RAGSTREAM_KAFKA__PARTITIONS": "1"}


def test_an_edit_after_a_bulk_import_is_searchable_before_the_import_and_newest_versions_win(
    pipeline: LocalPipeline,
) -> None:
    bulk = [bulk_document(n) for n in range(BULK_DOCUMENTS)]
    last, second_last = f"bulk-{BULK_DOCUMENTS - 1}", f"bulk-{BULK_DOCUMENTS - 2}"
    edits = [
        UpsertDocument(document_id="edit", content="A single edit mentions the word snapdragon."),
        # An edit and a delete of documents the import holds (its last ones, so most likely still
        # waiting in the bulk lane): they overtake them, and the import's versions come later.
        UpsertDocument(document_id=last, content="Rewritten by hand: the word is larkspur now."),
        DeleteDocument(document_id=second_last),
    ]
    imported = asyncio.run(produce(pipeline.settings, bulk, Lane.BULK))
    # Once the import is being embedded (its chunks are written, so the edit does not queue behind
    # them in the chunking stage, which both lanes share), the edit is written.
    wait_until(lambda: bool(search(pipeline.query_url, "bulkmarker", mode="bm25", limit=1)), timeout=240)
    edited = asyncio.run(produce(pipeline.settings, edits, Lane.INTERACTIVE))
    bulk_token = consistency_token(w.position for w in imported)
    edit_token = consistency_token(w.position for w in edited)
    assert bulk_token.endswith(":bulk") and ":bulk" not in edit_token
    # The import's documents written before the edit (all in its partition), the latest first.
    ahead = sorted(imported[:-2], key=lambda w: w.position.offset, reverse=True)
    assert {w.position.partition for w in ahead} == {edited[0].position.partition}
    words = {w.document_id: f"bulkword{w.document_id.removeprefix('bulk-')}" for w in ahead}

    wait_for_token(pipeline.query_url, edit_token)
    # The edit is searchable while some of them are not yet: it did not wait behind them. (How
    # many depends on how far the import got; the latest written are checked first.)
    assert [h["document_id"] for h in search(pipeline.query_url, "snapdragon", mode="bm25")] == ["edit"]
    overtaken = next(
        (doc for doc, word in words.items() if not search(pipeline.query_url, word, mode="bm25")), None
    )
    assert overtaken is not None, "every import document ahead of the edit was searchable before it"

    wait_for_token(pipeline.query_url, bulk_token)
    for doc, word in words.items():
        assert [h["document_id"] for h in search(pipeline.query_url, word, mode="bm25")] == [doc]
    # The import's older versions arrived last and were skipped: the edit stays, the delete holds.
    assert [h["document_id"] for h in search(pipeline.query_url, "larkspur", mode="bm25")] == [last]
    assert search(pipeline.query_url, f"bulkword{BULK_DOCUMENTS - 1}", mode="bm25") == []
    assert search(pipeline.query_url, f"bulkword{BULK_DOCUMENTS - 2}", mode="bm25") == []
    dense = search(pipeline.query_url, "bulk import paragraph", mode="dense", limit=100)
    assert {h["version"] for h in dense if h["document_id"] == last} <= {2}
    assert not [h for h in dense if h["document_id"] == second_last]
    assert httpx.get(f"{pipeline.query_url}/v1/documents/{second_last}").json()["status"] == "deleted"


# The server read models: the same decisions, with their state in PostgreSQL.


def opensearch_url() -> str:
    port = os.environ.get("RAGSTREAM_STACK__OPENSEARCH_PORT", "19200")
    url = os.environ.get("RAGSTREAM_OPENSEARCH__URL") or f"http://127.0.0.1:{port}"
    try:
        httpx.get(url, timeout=3).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"no OpenSearch node at {url} ({exc}); `ragstream stack up --with-opensearch` starts one")
    return url


@pytest.fixture
def keyword_index() -> Iterator[OpenSearchKeywordIndex]:
    name = f"ragstream-lanes-{uuid.uuid4().hex[:8]}"
    index = OpenSearchKeywordIndex.connect(opensearch_url(), name)
    try:
        yield index
    finally:
        client = index.client
        client.indices.delete(
            index=f"{name}*", params={"allow_no_indices": "true", "expand_wildcards": "all"}
        )
        try:
            templates = client.indices.get_index_template(name=f"{name}*")
        except NotFoundError:
            templates = {}
        for template in templates.get("index_templates", []):
            client.indices.delete_index_template(name=template["name"])
        index.close()


def embedded(doc: str, version: int, text: str, offset: int, lane: Lane = Lane.INTERACTIVE) -> LogRecord:
    record: dict[str, Any] = {
        "tenant": "t", "document_id": doc, "version": version, "content_version": version, "title": doc,
        "metadata": {}, "acl": [], "command_position": f"cmds/0/{offset}",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "chunks": [{"chunk_number": 0, "text": text, "start": 0, "end": len(text), "vector": [1.0, 0.0]}],
    }  # fmt: skip
    headers = {LANE_HEADER: b"bulk"} if lane is Lane.BULK else {}
    return LogRecord("DocumentEmbedded", record, TOPIC, 0, offset, None, headers)


def test_opensearch_keeps_the_newest_version_whichever_lane_arrives_last(
    isolated_settings: Settings, keyword_index: OpenSearchKeywordIndex
) -> None:
    async def scenario() -> tuple[dict[tuple[str, str], int], dict[int, int]]:
        store = await RegistryStore.connect(isolated_settings.postgres)
        try:
            state = SharedIndexState.of(store)
            projector = SharedIndexProjector(SharedIndexes(keyword=keyword_index), state)
            # Command order: import a v1 (3), b v1 (4), c v1 (5); edit a v2 (6), delete b v2 (7).
            # The interactive lane lands first, then the whole import.
            await projector.apply([embedded("c", 1, "cornflower first", 1)])
            await projector.apply([embedded("a", 2, "edited aster", 6)])
            deletion = replace(embedded("b", 2, "", 7), name="DocumentDeleted")
            await projector.apply([deletion])
            imported = [
                embedded("a", 1, "imported aster", 3, Lane.BULK),
                embedded("b", 1, "imported begonia", 4, Lane.BULK),
                embedded("c", 2, "cornflower imported", 5, Lane.BULK),
            ]
            result = await projector.apply(imported)
            assert result.skipped == 2 and [k[:3] for k in result.applied] == [("t", "c", 2)]
            versions = await state.versions([("t", "a"), ("t", "b"), ("t", "c")])
            return versions, await state.command_positions()
        finally:
            await store.close()

    versions, positions = asyncio.run(scenario())
    assert versions == {("t", "a"): 2, ("t", "b"): 2, ("t", "c"): 2}
    assert positions == {position_key(0, Lane.INTERACTIVE): 7, position_key(0, Lane.BULK): 5}

    def texts(query: str) -> list[str]:
        return sorted(h.chunk.text for h in keyword_index.search(query, SearchFilter(tenant="t"), 10))

    assert texts("aster") == ["edited aster"]
    assert texts("begonia") == []
    assert texts("cornflower") == ["cornflower imported"]
