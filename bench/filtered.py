"""`bench filtered`: how many of the exact nearest neighbours a filtered vector search finds.

Every search of the vector index carries a filter (the tenant; the caller's ACL terms and metadata
where given), and an HNSW graph searched under a filter misses neighbours an exact search finds.
This loads real MiniLM vectors (every one `ragstream eval` cached on this machine: its runs keep
them per dataset and chunking in PostgreSQL schemas named `eval_*`) into a fresh embedded vector
index, gives them tenants, ACLs and metadata (documents of ten chunks, drawn with a fixed seed),
builds the HNSW graph and compares each filtered search for 50 candidates (the query service's
depth) with an exact search over the same points: the share of the exact top 10 among the first 10
it returns, and its latency, once with ragstream's search parameters and once with qdrant's own.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from ragstream.bench.stats import latency_summary, machine
from ragstream.queries.readmodels.base import DocumentChunks, IndexedChunk, SearchFilter
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.settings import get_settings

DEPTH = 50
TENANTS = ["big"] * 60 + [f"mid{i}" for i in range(4) for _ in range(8)] + [f"small{i}" for i in range(8)]
# "" is no ACL (visible to everyone); drawn per document, as are the tenant and the source.
ACLS = [""] * 7 + ["group:a"] * 2 + ["group:b"]
SOURCES = ["x"] * 5 + ["y"] * 4 + ["z"]


class NoVectors(Exception):
    """No evaluation has cached embeddings on this machine yet."""


async def _cached_vectors() -> np.ndarray:
    settings = get_settings().postgres
    connection = await asyncpg.connect(settings.dsn(), timeout=30)
    try:
        schemas = await connection.fetch(
            "SELECT table_schema FROM information_schema.tables"
            " WHERE table_name = 'embedding_vectors' AND table_schema LIKE 'eval\\_%' ORDER BY 1"
        )
        rows = []
        for (schema,) in schemas:
            rows += await connection.fetch(f'SELECT vector FROM "{schema}".embedding_vectors')
    finally:
        await connection.close()
    vectors = [np.frombuffer(r["vector"], dtype=np.float32) for r in rows]
    if not vectors:
        raise NoVectors("no cached evaluation embeddings: run `ragstream eval` on a dataset first")
    return np.unique(np.stack(vectors), axis=0)


def run(queries: int = 200, vectors: np.ndarray | None = None) -> dict[str, Any]:
    """`vectors`: unit vectors to use instead of the evaluations' cached ones."""
    rng = np.random.default_rng(7)
    if vectors is None:
        vectors = asyncio.run(_cached_vectors())
    order = rng.permutation(len(vectors))
    asked, points = vectors[order[:queries]], vectors[order[queries:]]
    documents = (len(points) + 9) // 10
    tenant = np.repeat(rng.choice(TENANTS, documents), 10)[: len(points)]
    acl = np.repeat(rng.choice(ACLS, documents), 10)[: len(points)]
    source = np.repeat(rng.choice(SOURCES, documents), 10)[: len(points)]
    big = tenant == "big"
    cases: dict[str, tuple[SearchFilter, np.ndarray]] = {
        "tenant": (SearchFilter("big"), big),
        "tenant_acl_public": (SearchFilter("big", principals=[]), big & (acl == "")),
        "tenant_acl_group": (
            SearchFilter("big", principals=["group:b"]),
            big & np.isin(acl, ["", "group:b"]),
        ),
        "tenant_source_y": (SearchFilter("big", metadata={"source": "y"}), big & (source == "y")),
        "tenant_source_z": (SearchFilter("big", metadata={"source": "z"}), big & (source == "z")),
        "small_tenant": (SearchFilter("mid0"), tenant == "mid0"),
    }
    with tempfile.TemporaryDirectory(prefix="bench-filtered-") as folder:
        index = QdrantEdgeVectorIndex(Path(folder), points.shape[1])
        try:
            started = time.perf_counter()
            for first in range(0, documents, 200):
                index.replace_documents(
                    [
                        _document(d, points, tenant, acl, source)
                        for d in range(first, min(first + 200, documents))
                    ]
                )
            load_s = time.perf_counter() - started
            started = time.perf_counter()
            index.optimize()
            build_s = time.perf_counter() - started
            tuned = index.search_params
            results: dict[str, Any] = {}
            for name, (flt, visible) in cases.items():
                results[name] = {"points": int(visible.sum())}
                for label, params in (("ragstream", tuned), ("qdrant_defaults", _defaults)):
                    index.search_params = params
                    results[name][label] = _measure(index, flt, visible, points, asked)
        finally:
            index.close()
    return {
        "bench": "filtered",
        "source": "real all-MiniLM-L6-v2 vectors of every eval_* embedding cache in PostgreSQL",
        "points": len(points),
        "queries": queries,
        "depth": DEPTH,
        "load_s": round(load_s, 2),
        "build_s": round(build_s, 2),
        "filters": results,
        "machine": machine(),
    }


def _defaults(limit: int) -> None:
    return None


def _document(
    d: int, points: np.ndarray, tenant: np.ndarray, acl: np.ndarray, source: np.ndarray
) -> DocumentChunks:
    chunks = [
        IndexedChunk(
            tenant=str(tenant[i]), document_id=f"d{d}", version=1, chunk_number=i - 10 * d, text="t",
            title="", start=0, end=1, metadata={"source": str(source[i])},
            acl=(str(acl[i]),) if acl[i] else (), vector=points[i].tolist(),
        )
        for i in range(10 * d, min(10 * d + 10, len(points)))
    ]  # fmt: skip
    return DocumentChunks(str(tenant[10 * d]), f"d{d}", chunks, new=True)


def _measure(
    index: QdrantEdgeVectorIndex,
    flt: SearchFilter,
    visible: np.ndarray,
    points: np.ndarray,
    asked: np.ndarray,
) -> dict[str, Any]:
    candidates = np.flatnonzero(visible)
    found, seconds = 0, []
    for query in asked:
        exact = set(candidates[np.argsort(-(points[candidates] @ query))[:10]].tolist())
        started = time.perf_counter()
        hits = index.search(query.tolist(), flt, DEPTH)
        seconds.append(time.perf_counter() - started)
        returned = {int(h.chunk.document_id[1:]) * 10 + h.chunk.chunk_number for h in hits[:10]}
        found += len(exact & returned)
    summary = latency_summary(seconds, sum(seconds))
    return {"recall_at_10": round(found / (10 * len(asked)), 4), "p50_ms": summary["p50_ms"]}
