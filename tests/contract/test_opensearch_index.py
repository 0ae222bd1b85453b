"""The keyword contract against a real OpenSearch node, plus what only this backend promises.

Runs when a node answers at RAGSTREAM_OPENSEARCH__URL, or else at the local stack's port
(`deploy/local/opensearch.sh start`, 127.0.0.1:19200); skips with the reason otherwise. Every index,
alias and template it creates carries a per-session prefix and is deleted at the end.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError

from ragstream.queries.readmodels.base import IndexedChunk, KeywordIndex, SearchFilter, SearchIndex
from ragstream.queries.readmodels.exceptions import IndexUnavailableError, ReadModelError, ReadOnlyIndexError
from ragstream.queries.readmodels.generations import generation_name
from ragstream.queries.readmodels.opensearch_bodies import template_name
from ragstream.queries.readmodels.opensearch_index import (
    IndexGenerations,
    OpenSearchKeywordIndex,
    make_client,
)
from ragstream.queries.readmodels.tantivy_index import TantivyKeywordIndex
from tests.contract.factory import hit_ids
from tests.contract.keyword_contract import KeywordIndexContract
from tests.contract.search_contract import TENANT

pytestmark = pytest.mark.contract

PREFIX = f"ragstream-contract-{uuid.uuid4().hex[:8]}"


def node_url() -> str:
    port = os.environ.get("RAGSTREAM_STACK__OPENSEARCH_PORT", "19200")
    return os.environ.get("RAGSTREAM_OPENSEARCH__URL") or f"http://127.0.0.1:{port}"


@functools.cache
def _probe() -> tuple[OpenSearch | None, str]:
    url = node_url()
    client = make_client(
        url,
        username=os.environ.get("RAGSTREAM_OPENSEARCH__USERNAME", ""),
        password=os.environ.get("RAGSTREAM_OPENSEARCH__PASSWORD", ""),
        timeout_s=30.0,
    )
    try:
        info = client.info(params={"request_timeout": 3})
    except Exception as exc:
        client.close()
        return None, (
            f"no OpenSearch node reachable at {url} ({type(exc).__name__}); start one with "
            "`deploy/local/opensearch.sh start` or set RAGSTREAM_OPENSEARCH__URL"
        )
    return client, str(info.get("version", {}).get("number", "?"))


def node() -> OpenSearch:
    client, reason = _probe()
    if client is None:
        pytest.skip(reason)
    return client


def alias_for(path: Path) -> str:
    return f"{PREFIX}-{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    client, _ = _probe()
    if client is None:
        return
    client.indices.delete(index=f"{PREFIX}-*", params={"allow_no_indices": "true", "expand_wildcards": "all"})
    try:
        templates = client.indices.get_index_template(name=f"{PREFIX}-*")
    except NotFoundError:
        return
    for template in templates.get("index_templates", []):
        client.indices.delete_index_template(name=template["name"])


class TestOpenSearchKeywordIndex(KeywordIndexContract):
    def make_index(self, path: Path) -> KeywordIndex:
        return OpenSearchKeywordIndex(node(), alias_for(path))

    def make_reader(self, path: Path) -> KeywordIndex:
        return OpenSearchKeywordIndex(node(), alias_for(path), readonly=True)

    # -- versioning ----------------------------------------------------------------------------

    def test_stale_replace_never_wins(self, index: SearchIndex) -> None:
        newer = [self.chunk("doc-1", n, "bananas", version=3) for n in range(3)]
        self.put(index, *newer)

        # A zombie writer replays version 2, which had a single chunk.
        self.put(index, self.chunk("doc-1", 0, "apples", version=2))

        assert index.chunk_ids(TENANT, "doc-1") == [chunk.chunk_id for chunk in newer]
        assert self.find(index, "apples", SearchFilter(TENANT)) == []
        assert len(self.find(index, "bananas", SearchFilter(TENANT))) == self.hits_per_document(3)

    def test_redelivered_version_after_delete_does_not_resurrect(self, index: SearchIndex) -> None:
        chunk = self.chunk("doc-1", 0, "apples", version=4)
        self.put(index, chunk)
        index.delete_document(TENANT, "doc-1")
        index.flush()

        self.put(index, chunk)

        assert index.chunk_ids(TENANT, "doc-1") == []
        # A genuinely newer version (the re-created document) is accepted.
        recreated = self.chunk("doc-1", 0, "apples", version=6)
        self.put(index, recreated)
        assert index.chunk_ids(TENANT, "doc-1") == [recreated.chunk_id]

    def test_an_older_version_written_after_a_versioned_delete_is_never_found(
        self, index: SearchIndex
    ) -> None:
        # A blue/green rebuild: the new generation holds version 3 when the alias swaps; a worker
        # deletes the document (version 5) there; the catch-up then replays version 4, which a
        # worker had written into the old generation just before the swap, with one chunk more.
        self.put(index, *(self.chunk("doc-1", n, "apples", version=3) for n in range(2)))
        index.delete_document(TENANT, "doc-1", version=5)
        index.flush()
        self.put(index, *(self.chunk("doc-1", n, "apples", version=4) for n in range(3)))
        assert self.find(index, "apples", SearchFilter(TENANT)) == []
        # A document this generation never held: created and deleted around the swap.
        index.delete_document(TENANT, "doc-2", version=2)
        index.flush()
        self.put(index, self.chunk("doc-2", 0, "plums", version=1))
        assert self.find(index, "plums", SearchFilter(TENANT)) == []
        # A genuinely newer version (the re-created document) is found again.
        self.put(index, self.chunk("doc-1", 0, "apples", version=6))
        assert [h.chunk.chunk_id for h in self.find(index, "apples", SearchFilter(TENANT))] == ["doc-1#v6#c0"]

    def test_an_older_version_written_after_a_shrink_never_cites_its_chunks(self, index: SearchIndex) -> None:
        # As above, but the worker's version 5 keeps one chunk: version 4's third chunk is a slot
        # the new generation never held, so no tombstone guards it.
        self.put(index, *(self.chunk("doc-1", n, "apples", version=3) for n in range(2)))
        kept = self.chunk("doc-1", 0, "bananas", version=5)
        self.put(index, kept)
        # Its text matches better than the kept chunk's: without the version check it would be cited.
        self.put(index, *(self.chunk("doc-1", n, "bananas bananas", version=4) for n in range(3)))
        found = self.find(index, "bananas", SearchFilter(TENANT))
        assert [h.chunk.chunk_id for h in found] == [kept.chunk_id]
        # An access change re-indexes the document's own version, not the stale chunk beside it.
        index.update_access(TENANT, "doc-1", {"team": "fruit"}, [])
        index.flush()
        found = self.find(index, "bananas", SearchFilter(TENANT, metadata={"team": "fruit"}))
        assert [h.chunk.chunk_id for h in found] == [kept.chunk_id]

    def test_newer_version_with_fewer_chunks_replaces_all(self, index: SearchIndex) -> None:
        self.put(index, *(self.chunk("doc-1", n, "apples", version=1) for n in range(4)))
        kept = self.chunk("doc-1", 0, "bananas", version=2)
        self.put(index, kept)

        assert index.chunk_ids(TENANT, "doc-1") == [kept.chunk_id]
        assert index.count() == 1

    # -- generations ---------------------------------------------------------------------------

    def test_rebuild_into_a_new_generation_and_swap(self, index: SearchIndex, index_path: Path) -> None:
        alias = alias_for(index_path)
        self.put(index, self.chunk("doc-old", 0, "apples"))
        generations = IndexGenerations(node(), alias)
        [first] = generations.current()
        assert first == generation_name(alias, 1)

        fresh = generations.create_next()
        assert fresh == generation_name(alias, 2)
        rebuilt = OpenSearchKeywordIndex(node(), fresh)
        try:
            self.put(rebuilt, self.chunk("doc-new", 0, "apples"))
            # Until the swap, the alias still serves the old generation.
            assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == ["doc-old#v1#c0"]

            assert generations.swap(fresh) == [first]
            assert hit_ids(self.find(index, "apples", SearchFilter(TENANT))) == ["doc-new#v1#c0"]
            assert generations.generations() == [first, fresh]

            with pytest.raises(ValueError, match="swap"):
                generations.drop(fresh)
            generations.drop(first)
            assert generations.generations() == [fresh]
            # Writes through the alias now land in the new generation.
            self.put(index, self.chunk("doc-after", 0, "apples"))
            assert rebuilt.count() == 2
        finally:
            rebuilt.close()

    def test_generations_share_the_template(self, index: SearchIndex, index_path: Path) -> None:
        alias = alias_for(index_path)
        client = node()
        assert client.indices.exists_index_template(name=template_name(alias))
        fresh = IndexGenerations(client, alias).create_next()
        settings = client.indices.get_settings(index=fresh)[fresh]["settings"]["index"]
        assert settings["refresh_interval"] == "-1"

        def tokens(field: str) -> list[str]:
            body = {"field": field, "text": "The services were running"}
            return [token["token"] for token in client.indices.analyze(index=fresh, body=body)["tokens"]]

        # Documents are ranked without stop words; chunks keep them, as in Tantivy's chunk index.
        assert tokens("body") == ["servic", "were", "run"]
        assert tokens("text") == ["the", "servic", "were", "run"]

    # -- instances -----------------------------------------------------------------------------

    def test_reader_rejects_writes(self, index: SearchIndex, index_path: Path) -> None:
        reader = self.make_reader(index_path)
        try:
            with pytest.raises(ReadOnlyIndexError):
                reader.replace_document(TENANT, "doc-1", [self.chunk("doc-1", 0, "apples")])
            with pytest.raises(ReadOnlyIndexError):
                reader.update_access(TENANT, "doc-1", {}, [])
            reader.flush()  # Nothing to send, and a reader never forces a refresh.
        finally:
            reader.close()

    def test_reader_needs_an_existing_alias(self, tmp_path: Path) -> None:
        with pytest.raises(IndexUnavailableError):
            OpenSearchKeywordIndex(node(), alias_for(tmp_path / "missing"), readonly=True)

    def test_use_after_close_raises(self, index: SearchIndex) -> None:
        index.close()
        with pytest.raises(ReadModelError):
            index.count()

    def test_close_sends_pending_writes(self, index: SearchIndex, index_path: Path) -> None:
        index.replace_document(TENANT, "doc-1", [self.chunk("doc-1", 0, "apples")])
        index.close()

        reopened = self.make_index(index_path)
        try:
            assert reopened.chunk_ids(TENANT, "doc-1") == ["doc-1#v1#c0"]
        finally:
            reopened.close()


def test_both_backends_rank_documents_alike(tmp_path: Path) -> None:
    """The same corpus in Tantivy and OpenSearch: the same documents, in the same order, with scores
    in the same proportions (Lucene leaves BM25's constant (k1 + 1) factor out), and the same chunk
    cited for each. Plain words, so the two tokenizers cannot differ; stop words, stemming, k1, b,
    document statistics and query reading are what is compared."""
    rng = random.Random(18)
    vocabulary = [
        "apple",
        "river",
        "stone",
        "cloud",
        "ember",
        "lantern",
        "harbor",
        "meadow",
        "quartz",
        "violet",
        "willow",
        "falcon",
    ]
    filler = ["the", "of", "and", "a", "is", "to", "with", "on", "for", "this"]
    chunks: list[IndexedChunk] = []
    for d in range(40):
        start = 0
        for n in range(rng.randint(1, 4)):
            words = rng.choices(vocabulary + filler, k=rng.randint(4, 30))
            text = " ".join(w + ("s" if rng.random() < 0.2 else "") for w in words)
            chunks.append(
                IndexedChunk(TENANT, f"doc-{d}", 1, n, text, f"Title {d}", start, start + len(text))
            )
            start += len(text) + 1
    tantivy_index = TantivyKeywordIndex(tmp_path / "tantivy")
    opensearch_index = OpenSearchKeywordIndex(node(), alias_for(tmp_path))
    try:
        for index in (tantivy_index, opensearch_index):
            for d in range(40):
                index.replace_document(TENANT, f"doc-{d}", [c for c in chunks if c.document_id == f"doc-{d}"])
            index.flush()
        for query in (
            "apple",
            "river stones",
            "the harbor lanterns",
            '"violet willow"',
            "falcon quartz ember",
        ):
            ours = tantivy_index.search(query, SearchFilter(TENANT), 10)
            theirs = opensearch_index.search(query, SearchFilter(TENANT), 10)
            assert [h.chunk.document_id for h in ours] == [h.chunk.document_id for h in theirs], query
            assert [h.score / ours[0].score for h in ours] == pytest.approx(
                [h.score / theirs[0].score for h in theirs], rel=1e-3
            )
            assert hit_ids(ours) == hit_ids(theirs), query
    finally:
        tantivy_index.close()
        opensearch_index.close()
