"""Property: whatever the documents, ACLs and query, no search returns another tenant's chunk or a
chunk the caller may not see — in the keyword and the vector read model alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragstream.queries.readmodels.base import IndexedChunk, SearchFilter
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.queries.readmodels.tantivy_index import TantivyKeywordIndex

pytestmark = pytest.mark.contract
DIM = 4
TENANTS = ["red", "blue"]
PRINCIPALS = ["user:ann", "user:bob", "group:eng", "group:ops"]
WORDS = ["alpha", "beta", "gamma", "delta"]

documents = st.lists(
    st.tuples(
        st.sampled_from(TENANTS),
        st.integers(0, 5),  # document number: the same id may exist in both tenants
        st.lists(st.sampled_from(PRINCIPALS), max_size=2, unique=True),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
        st.lists(st.floats(-1, 1, allow_nan=False), min_size=DIM, max_size=DIM),
    ),
    min_size=1,
    max_size=12,
)
callers = st.tuples(st.sampled_from(TENANTS), st.lists(st.sampled_from(PRINCIPALS), max_size=2, unique=True))


@pytest.fixture(scope="module")
def indexes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TantivyKeywordIndex, QdrantEdgeVectorIndex]]:
    root = Path(tmp_path_factory.mktemp("isolation"))
    keyword, vector = TantivyKeywordIndex(root / "kw"), QdrantEdgeVectorIndex(root / "vec", DIM)
    yield keyword, vector
    keyword.close()
    vector.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=documents, caller=callers, query_words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))
def test_no_search_leaks_across_tenants_or_acls(
    indexes: tuple[TantivyKeywordIndex, QdrantEdgeVectorIndex],
    docs: list[tuple[str, int, list[str], list[str], list[float]]],
    caller: tuple[str, list[str]],
    query_words: list[str],
) -> None:
    keyword, vector = indexes
    for index in (keyword, vector):
        for tenant in TENANTS:
            for n in range(6):
                index.delete_document(tenant, f"doc-{n}")
    visible: dict[tuple[str, str], list[str]] = {}
    for tenant, n, acl, words, raw in docs:
        vec = [v if any(raw) else 0.5 for v in raw]
        chunk = IndexedChunk(tenant, f"doc-{n}", 1, 0, " ".join(words), acl=acl, vector=vec)
        keyword.replace_document(tenant, chunk.document_id, [chunk])
        vector.replace_document(tenant, chunk.document_id, [chunk])
        visible[(tenant, chunk.document_id)] = acl
    keyword.flush()
    vector.flush()

    tenant, principals = caller
    flt = SearchFilter(tenant=tenant, principals=principals)
    hits = keyword.search(" ".join(query_words), flt, 50) + vector.search([0.5] * DIM, flt, 50)
    for hit in hits:
        assert hit.chunk.tenant == tenant
        acl = visible[(hit.chunk.tenant, hit.chunk.document_id)]
        assert not acl or set(acl) & set(principals), (hit.chunk, principals)
    # And nothing the caller may see is missing from the vector search (which ranks everything).
    allowed = {
        d for (t, d), acl in visible.items() if t == tenant and (not acl or set(acl) & set(principals))
    }
    assert {h.chunk.document_id for h in vector.search([0.5] * DIM, flt, 50)} == allowed
