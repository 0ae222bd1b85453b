"""QueryService on real embedded indexes (Tantivy, qdrant-edge) fed by its IndexFeed, without Kafka:
retrieval modes, fusion choice, paging, filters, read-your-writes tokens and extractive answers."""

from __future__ import annotations

import asyncio
import re
import statistics
import zlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragstream.codec import load_codec
from ragstream.queries.answers.base import NOT_FOUND_TEXT
from ragstream.queries.answers.extractive import ExtractiveGenerator
from ragstream.queries.exceptions import InvalidConsistencyToken, NotCaughtUp
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.indexing.generation import Generation
from ragstream.queries.retrieval.fusion import FusedHit
from ragstream.queries.service import Mode, QueryService, SearchQuery
from ragstream.records import LogRecord
from ragstream.settings import KafkaSettings, RetrievalSettings
from tests.unit.codecs import UNIT_CODEC

pytestmark = pytest.mark.unit
DIM = 128
TOPIC = "t.document-embeddings"


class HashingEmbedder:
    """Hashed bag of words: texts sharing words are close in cosine, so dense search ranks sensibly."""

    name = "hashing-test"
    version = "1"
    dimension = DIM

    def __init__(self) -> None:
        self.queries: list[str] = []

    def _one(self, text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
        out = np.zeros(DIM, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            out[zlib.crc32(word.encode()) % DIM] += 1.0
        norm = float(np.linalg.norm(out))
        # A text without words still needs a unit vector; any fixed direction will do.
        return out / norm if norm else np.eye(DIM, dtype=np.float32)[0]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        return np.stack([self._one(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.queries.append(text)
        return self._one(text)


EMBEDDER = HashingEmbedder()
# (tenant, document_id, metadata, acl, chunk texts)
CORPUS: list[tuple[str, str, dict[str, str], list[str], list[str]]] = [
    ("acme", "kafka", {"team": "data"}, [], [
        "Kafka stores records in partitions. Each partition is an ordered log of records.",
        "Consumers read partitions and commit offsets after processing each batch.",
    ]),
    ("acme", "search", {"team": "search"}, [], [
        "Tantivy builds an inverted index for keyword search with BM25 scoring.",
    ]),
    ("acme", "payroll", {"team": "hr"}, ["group:hr"], [
        "Kafka partitions also carry the payroll records, which only HR may read.",
    ]),
    *[("acme", f"note{i}", {"team": "ops"}, [], [f"Release note {i} about records" + " and more" * i])
      for i in range(1, 5)],
    # Same document id as in acme: isolation must hold on the tenant, not the id.
    ("globex", "kafka", {"team": "data"}, [], ["Kafka partitions of another company."]),
]  # fmt: skip


def embedded(
    tenant: str, doc: str, metadata: dict[str, str], acl: list[str], texts: list[str], offset: int
) -> LogRecord:
    # Chunks of one document are laid end to end, a space apart, so spans are document offsets.
    starts = [sum(len(t) + 1 for t in texts[:i]) for i in range(len(texts))]
    chunks = [{"chunk_number": i, "text": t, "start": s, "end": s + len(t), "vector": v.tolist()}
              for i, (t, s, v) in enumerate(zip(texts, starts, EMBEDDER.embed_passages(texts), strict=True))]  # fmt: skip
    record = {"tenant": tenant, "document_id": doc, "version": 1, "content_version": 1, "title": doc.title(),
              "metadata": metadata, "acl": acl, "chunks": chunks, "command_position": f"cmds/0/{offset}",
              "event_time": datetime.now(UTC)}  # fmt: skip
    return LogRecord("DocumentEmbedded", record, TOPIC, 0, offset)


@pytest.fixture
async def feed(tmp_path: Path) -> AsyncIterator[IndexFeed]:
    generation = Generation.open(tmp_path, "g1", DIM)
    feed = IndexFeed(KafkaSettings(), TOPIC, load_codec(UNIT_CODEC), generation)
    await feed.apply([embedded(*doc, offset=i) for i, doc in enumerate(CORPUS)])
    yield feed
    generation.close()


def service(feed: IndexFeed, **settings: Any) -> QueryService:
    retrieval = RetrievalSettings(**{"consistency_timeout_s": 0.5, **settings})
    return QueryService(feed, EMBEDDER, ExtractiveGenerator(), retrieval)


def query(text: str, tenant: str = "acme", **kw: Any) -> SearchQuery:
    return SearchQuery(text, tenant, kw.pop("principals", None), **kw)


def docs(hits: Sequence[Any]) -> list[str]:
    return [h.chunk.document_id for h in hits]


async def test_bm25_mode_ranks_by_keywords_and_never_embeds_the_query(feed: IndexFeed) -> None:
    calls = len(EMBEDDER.queries)
    result = await service(feed).search(query("inverted index scoring", mode=Mode.BM25))
    assert docs(result.hits) == ["search"]
    assert result.hits[0].vector_rank is None and result.hits[0].bm25_rank == 1
    assert (
        len(EMBEDDER.queries) == calls and "bm25" in result.timings_ms and "vector" not in result.timings_ms
    )


async def test_dense_mode_ranks_by_vector_similarity_only(feed: IndexFeed) -> None:
    result = await service(feed).search(query("consumers commit offsets after processing", mode=Mode.DENSE))
    top = result.hits[0]
    assert top.chunk.chunk_id == "kafka#v1#c1" and top.vector_rank == 1
    assert all(h.bm25_rank is None for h in result.hits) and "bm25" not in result.timings_ms


async def test_hybrid_merges_both_retrievers_into_one_list_without_duplicates(feed: IndexFeed) -> None:
    result = await service(feed).search(query("kafka partitions records", limit=50))
    ids = [h.chunk_id for h in result.hits]
    assert len(ids) == len(set(ids))
    both = [h for h in result.hits if h.bm25_rank is not None and h.vector_rank is not None]
    assert both and {"bm25", "embed", "vector", "fusion"} <= set(result.timings_ms)


async def test_the_query_chooses_fusion_and_its_k_over_the_settings(feed: IndexFeed) -> None:
    svc = service(feed, fusion="convex", rrf_k=20)

    def rrf(h: FusedHit, k: int) -> float:
        return sum(1 / (k + r) for r in (h.bm25_rank, h.vector_rank) if r is not None)

    chosen = await svc.search(query("kafka partitions records", fusion="rrf", rrf_k=1))
    assert [h.score for h in chosen.hits] == pytest.approx([rrf(h, 1) for h in chosen.hits])
    default = await service(feed, fusion="rrf", rrf_k=7).search(query("kafka partitions records"))
    assert [h.score for h in default.hits] == pytest.approx([rrf(h, 7) for h in default.hits])


async def test_convex_alpha_zero_from_the_query_is_honoured_not_taken_for_unset(feed: IndexFeed) -> None:
    # alpha=0 means "BM25 only"; treating 0 as missing would fall back to the settings' 0.6.
    result = await service(feed, fusion="convex", convex_alpha=0.6).search(
        query("consumers commit offsets kafka records", alpha=0.0, limit=50)
    )
    lexical = [h.bm25_score for h in result.hits if h.bm25_score is not None]
    low, high = min(lexical), max(lexical)
    expected = [0.0 if h.bm25_score is None else (h.bm25_score - low) / (high - low) for h in result.hits]
    assert len(lexical) >= 3 and [h.score for h in result.hits] == pytest.approx(expected)


async def test_the_query_chooses_z_score_normalisation_over_the_settings(feed: IndexFeed) -> None:
    svc = service(feed, fusion="convex", convex_alpha=0.0, normalization="min-max")
    result = await svc.search(
        query("consumers commit offsets kafka records", normalization="z-score", limit=50)
    )
    lexical = [h.bm25_score for h in result.hits if h.bm25_score is not None]
    mean, sd = statistics.fmean(lexical), statistics.pstdev(lexical)
    lowest = (min(lexical) - mean) / sd
    expected = [lowest if h.bm25_score is None else (h.bm25_score - mean) / sd for h in result.hits]
    assert len(lexical) >= 3 and [h.score for h in result.hits] == pytest.approx(expected)


async def test_the_sibling_weight_comes_from_the_settings_unless_the_query_sets_it(feed: IndexFeed) -> None:
    text = "consumers commit offsets kafka records"
    dense_only = {"fusion": "convex", "convex_alpha": 1.0}
    plain = await service(feed, **dense_only, sibling_weight=0.0).search(query(text, limit=50))
    supported = await service(feed, **dense_only, sibling_weight=1.0).search(query(text, limit=50))
    overridden = await service(feed, **dense_only, sibling_weight=1.0).search(
        query(text, sibling_weight=0.0, limit=50)
    )
    # Per document, only the best chunk gains: by the normalised scores of the document's other chunks.
    gains = {
        h.chunk_id: s.score - h.score for h in plain.hits for s in supported.hits if s.chunk_id == h.chunk_id
    }
    assert any(g > 0 for g in gains.values()) and all(g >= 0 for g in gains.values())
    assert [(h.chunk_id, h.score) for h in overridden.hits] == [(h.chunk_id, h.score) for h in plain.hits]
    # The vector mode alone keeps the vector order and scores, whatever the weight.
    alone = [
        [(h.chunk_id, h.score) for h in r.hits]
        for r in [
            await service(feed, sibling_weight=w).search(query(text, mode=Mode.DENSE, limit=50))
            for w in (0.0, 1.0)
        ]
    ]
    assert len(alone[0]) >= 3 and alone[0] == alone[1]


async def test_pages_tile_the_full_ranking_even_beyond_the_candidate_depth(feed: IndexFeed) -> None:
    # candidates=1: each retriever must still fetch offset+limit, or later pages would come back empty.
    svc = service(feed, candidates=1)
    full = await svc.search(query("records", mode=Mode.BM25, limit=10))
    pages = [await svc.search(query("records", mode=Mode.BM25, offset=o, limit=2)) for o in (0, 2, 4)]
    assert len(full.hits) == 6
    assert [h.chunk_id for p in pages for h in p.hits] == [h.chunk_id for h in full.hits]
    assert (await svc.search(query("records", mode=Mode.BM25, offset=6, limit=2))).hits == []


@pytest.mark.parametrize("mode", [Mode.BM25, Mode.DENSE, Mode.HYBRID])
async def test_another_tenants_chunks_never_appear(feed: IndexFeed, mode: str) -> None:
    acme = await service(feed).search(query("kafka partitions records", mode=mode, limit=50))
    globex = await service(feed).search(query("kafka partitions records", "globex", mode=mode, limit=50))
    assert acme.hits and all(h.chunk.tenant == "acme" for h in acme.hits)
    assert [(h.chunk.tenant, h.chunk.document_id) for h in globex.hits] == [("globex", "kafka")]


@pytest.mark.parametrize("mode", [Mode.BM25, Mode.DENSE, Mode.HYBRID])
async def test_acl_hides_chunks_from_principals_not_granted(feed: IndexFeed, mode: str) -> None:
    text = "payroll records HR"
    outsider = await service(feed).search(query(text, principals=["user:bob"], mode=mode, limit=50))
    member = await service(feed).search(query(text, principals=["user:eve", "group:hr"], mode=mode, limit=50))
    assert outsider.hits and "payroll" not in docs(outsider.hits)
    assert docs(member.hits)[0] == "payroll"


@pytest.mark.parametrize("mode", [Mode.BM25, Mode.DENSE, Mode.HYBRID])
async def test_metadata_and_document_filters_apply_inside_every_search(feed: IndexFeed, mode: str) -> None:
    by_team = await service(feed).search(
        query("kafka records", metadata={"team": "ops"}, mode=mode, limit=50)
    )
    assert sorted(set(docs(by_team.hits))) == ["note1", "note2", "note3", "note4"]
    by_id = await service(feed).search(query("kafka records", document_ids=["note2"], mode=mode, limit=50))
    assert docs(by_id.hits) == ["note2"]


async def test_a_token_waits_until_the_feed_applied_that_write(feed: IndexFeed) -> None:
    position = len(CORPUS)
    pending = asyncio.create_task(
        service(feed).search(query("zookeeper quorum", mode=Mode.BM25, consistency_token=f"0:{position}"))
    )
    await asyncio.sleep(0.1)
    assert not pending.done()  # the write is not applied yet, so answering now would hide it
    await feed.apply([embedded("acme", "zk", {}, [], ["A zookeeper quorum elects a leader."], position)])
    assert docs((await asyncio.wait_for(pending, 2)).hits) == ["zk"]


async def test_a_token_the_feed_never_reaches_times_out_naming_the_partitions_behind(feed: IndexFeed) -> None:
    applied = len(CORPUS) - 1
    with pytest.raises(NotCaughtUp) as caught:
        await service(feed, consistency_timeout_s=0.2).search(
            query("kafka", consistency_token="0:500, 3:2, 0:0")
        )
    # The highest offset per partition counts; partition 3 was never seen (-1).
    assert caught.value.behind == {0: (applied, 500), 3: (-1, 2)}


async def test_a_token_already_applied_answers_at_once(feed: IndexFeed) -> None:
    result = await asyncio.wait_for(
        service(feed, consistency_timeout_s=5).search(query("tantivy", consistency_token="0:3")), 1
    )
    assert docs(result.hits)[0] == "search"


@pytest.mark.parametrize("token", ["garbage", "0-5", "0:x", "0:1:2", "0:1,", "-1:3", "0:-1"])
async def test_a_malformed_token_is_rejected_rather_than_ignored(feed: IndexFeed, token: str) -> None:
    with pytest.raises(InvalidConsistencyToken):
        await service(feed).search(query("kafka", consistency_token=token))


async def test_answer_quotes_the_relevant_passage_and_cites_its_document_span(feed: IndexFeed) -> None:
    generated, passages, _ = await service(feed).answer(query("When do consumers commit offsets?", limit=5))
    answer = generated.answer
    assert generated.fallback is None and generated.template is None
    assert answer.grounded and answer.citations
    cited = answer.citations[0]
    assert cited.chunk_id == "kafka#v1#c1" and f"[{cited.marker}]" in answer.text
    passage = next(p for p in passages if p.number == cited.marker)
    chunk_text = CORPUS[0][4][1]
    assert cited.quote in chunk_text and passage.chunk_id == cited.chunk_id
    # The span is in document coordinates: chunk 1 starts after chunk 0 and a space.
    assert (cited.start, cited.end) == (
        passage.start + chunk_text.index(cited.quote),
        passage.start + chunk_text.index(cited.quote) + len(cited.quote),
    )
    assert passage.start == len(CORPUS[0][4][0]) + 1


async def test_nothing_relevant_says_so_without_citations(feed: IndexFeed) -> None:
    # Dense search always returns neighbours, so passages exist, but none answers the question.
    generated, passages, _ = await service(feed).answer(query("volcanic eruption lava temperature"))
    answer = generated.answer
    assert passages and (answer.text, answer.citations, answer.grounded) == (NOT_FOUND_TEXT, [], False)
    empty, none, _ = await service(feed).answer(query("kafka partitions", "initech"))
    assert none == [] and empty.answer.text == NOT_FOUND_TEXT and not empty.answer.grounded
