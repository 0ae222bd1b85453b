"""Query side on the real stack: hybrid retrieval, filters and ACLs inside both retrievers, grounded
answers with citations, the nothing-relevant path."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from ragstream.local.pipeline import LocalPipeline
from tests.integration.helpers import post_documents, search, token_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS = [
    {"document_id": "code", "content": "Internal ticket xq7plorf tracks the flaky login page on Tuesdays."},
    {"document_id": "garage", "content": "Changing engine oil and rotating tyres keeps an automobile running well."},
    {"document_id": "tea", "content": "Green tea is steeped at eighty degrees for two minutes."},
    {"document_id": "secret", "content": "The eng salary bands are reviewed every spring.", "acl": ["group:eng"],
     "metadata": {"team": "eng"}},
    {"document_id": "eng-public", "content": "The eng handbook describes spring planning.", "metadata": {"team": "eng"}},
    {"document_id": "hr-public", "content": "The hr handbook describes spring planning.", "metadata": {"team": "hr"}},
    {"document_id": "volcano", "title": "Volcanoes",
     "content": "A volcano erupts when pressure from magma builds up. Lava flows cool into basalt rock. "
                "Mount Etna in Sicily is one of the most active volcanoes in Europe."},
]  # fmt: skip


@pytest.fixture(scope="module")
def indexed(pipeline: LocalPipeline) -> LocalPipeline:
    token = token_of(post_documents(pipeline.command_url, DOCS))
    other = post_documents(
        pipeline.command_url, [{"document_id": "tea", "content": "Tenant B brews tea."}], tenant="b"
    )
    search(pipeline.query_url, "tea", token=token)
    search(pipeline.query_url, "tea", tenant="b", token=token_of(other))
    return pipeline


def ids(hits: list[dict[str, Any]]) -> list[str]:
    return [h["document_id"] for h in hits]


def test_hybrid_returns_documents_only_one_retriever_finds(indexed: LocalPipeline) -> None:
    query = "xq7plorf car maintenance"
    lexical = ids(search(indexed.query_url, query, mode="bm25"))
    dense = ids(search(indexed.query_url, query, mode="dense", limit=2))
    assert "code" in lexical and "garage" not in lexical  # no shared word: BM25 cannot find it
    assert "garage" in dense
    hybrid = search(indexed.query_url, query, mode="hybrid", limit=3)
    assert {"code", "garage"} <= set(ids(hybrid))
    garage = next(h for h in hybrid if h["document_id"] == "garage")
    assert garage["scores"]["bm25_rank"] is None and garage["scores"]["vector_rank"] is not None


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_acl_holds_inside_every_retriever(indexed: LocalPipeline, mode: str) -> None:
    query = "eng salary bands spring"
    anonymous = ids(search(indexed.query_url, query, mode=mode, limit=100))
    assert "secret" not in anonymous and "eng-public" in anonymous
    assert "secret" not in ids(
        search(indexed.query_url, query, mode=mode, limit=100, principals="group:hr,user:x")
    )
    assert "secret" in ids(search(indexed.query_url, query, mode=mode, limit=100, principals="group:eng"))


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_metadata_filter_is_applied_inside_the_search_not_after_truncation(
    indexed: LocalPipeline, mode: str
) -> None:
    hits = search(
        indexed.query_url,
        "hr handbook spring planning",
        mode=mode,
        limit=1,
        filters={"metadata": {"team": "eng"}},
    )
    assert ids(hits) == ["eng-public"]


def test_tenants_never_see_each_other(indexed: LocalPipeline) -> None:
    a = search(indexed.query_url, "tea", mode="bm25", tenant="default")
    b = search(indexed.query_url, "tea", mode="bm25", tenant="b")
    assert [h["text"] for h in b] == ["Tenant B brews tea."]
    assert "Tenant B brews tea." not in [h["text"] for h in a]


def test_pagination_returns_disjoint_pages(indexed: LocalPipeline) -> None:
    first = search(indexed.query_url, "spring handbook", limit=2, offset=0)
    second = search(indexed.query_url, "spring handbook", limit=2, offset=2)
    assert first and second and not {h["chunk_id"] for h in first} & {h["chunk_id"] for h in second}
    assert [h["rank"] for h in second] == [3, 4][: len(second)]


def test_answer_citations_point_to_passages_that_contain_the_cited_text(indexed: LocalPipeline) -> None:
    response = httpx.post(
        f"{indexed.query_url}/v1/answer", json={"question": "What happens when a volcano erupts?"}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["grounded"] and data["citations"]
    passages = {p["number"]: p for p in data["passages"]}
    for c in data["citations"]:
        assert f"[{c['marker']}]" in data["answer"]
        passage = passages[c["marker"]]
        assert c["document_id"] == passage["document_id"] == "volcano"
        assert c["quote"] in passage["text"]
        assert passage["text"][c["start"] - passage["start"] : c["end"] - passage["start"]] == c["quote"]


def test_nothing_relevant_says_so_instead_of_inventing(indexed: LocalPipeline) -> None:
    response = httpx.post(
        f"{indexed.query_url}/v1/answer", json={"question": "Who won the 1974 chess olympiad?"}
    )
    data = response.json()
    assert data["grounded"] is False and data["citations"] == []
    assert "could not find" in data["answer"]


def test_streamed_answer_sends_deltas_then_citations(indexed: LocalPipeline) -> None:
    body = {"question": "What rock does cooled lava form?", "stream": True}
    with httpx.stream("POST", f"{indexed.query_url}/v1/answer", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    names = [e.split(": ", 1)[1] for e in events if e.startswith("event:")]
    assert names[0] == "delta" and names[-2:] == ["citations", "done"]
    citations = json.loads(events[events.index("event: citations") + 1].split(": ", 1)[1])
    assert citations["grounded"] and citations["citations"][0]["document_id"] == "volcano"


@pytest.mark.parametrize(
    ("body", "status"),
    [({"query": ""}, 422), ({"query": "x", "limit": 0}, 422), ({"query": "x", "mode": "magic"}, 422),
     ({"query": "x", "alpha": 2}, 422), ({"query": "x", "normalization": "l2"}, 422), ({"nope": 1}, 422),
     ({"query": "x", "sibling_weight": 1.5}, 422), ({"query": "x", "sibling_weight": -0.1}, 422),
     # A token that is malformed or names positions the topic does not have: 400 at once.
     ({"query": "x", "consistency_token": "garbage"}, 400), ({"query": "x", "consistency_token": "-1:4"}, 400),
     ({"query": "x", "consistency_token": "999:1"}, 400), ({"query": "x", "consistency_token": "0:99999999"}, 400)],
)  # fmt: skip
def test_bad_search_requests_get_a_clear_4xx(
    indexed: LocalPipeline, body: dict[str, Any], status: int
) -> None:
    started = time.monotonic()
    response = httpx.post(f"{indexed.query_url}/v1/search", json=body)
    assert response.status_code == status and response.json()["detail"]
    assert response.headers["content-type"] == "application/problem+json"
    assert time.monotonic() - started < 5  # refused at once, not after the consistency timeout


def test_document_view_respects_acl(indexed: LocalPipeline) -> None:
    assert httpx.get(f"{indexed.query_url}/v1/documents/secret").status_code == 404
    view = httpx.get(f"{indexed.query_url}/v1/documents/secret", headers={"X-Principals": "group:eng"})
    assert view.status_code == 200 and view.json()["acl"] == ["group:eng"]
