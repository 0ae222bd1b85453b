"""`ragstream eval --backends`: dense retrieval quality of each encoder backend on the same chunks.

The backends change nothing but the vectors, so this compares them without the pipeline: the
dataset's documents are chunked with the stream workers' chunker and settings (as the eval ingest
sends them: the text, or the title when there is none), every chunk is embedded as the embedding
stage embeds it (title, heading path and text: ragstream.embedding.passage) and every query with
each backend in this process, and documents are ranked by their best chunk's cosine, as the dense mode of
the query API ranks them. nDCG@10 of each backend is compared per query with fp32 torch's.

A pair `PASSAGES/QUERIES` (`torch-bf16/onnx-fp32`) ranks one backend's chunk vectors by another's
query vectors: what a query node on one backend serves from an index the workers embedded with
another (ragstream.embedding.backends, roles). Each backend still embeds the chunks only once, and
only when it is on the passage side of something asked for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragstream.bench.eval.beir import Dataset
from ragstream.bench.eval.metrics import mean_scores, paired_difference, per_query
from ragstream.contracts import MAX_CONTENT_CHARS
from ragstream.embedding import load_embedder
from ragstream.embedding.passage import passage_input
from ragstream.settings import ChunkingSettings, EmbeddingSettings
from ragstream.streams.chunking import chunk_document
from ragstream.streams.stages import chunking_config

REFERENCE = "torch-fp32"
DEPTH = 100
# Backends within this much nDCG@10 of fp32 torch qualify for "auto" (ragstream.embedding.backends).
TOLERANCE = 0.005


def compare_backends(
    dataset: Dataset, backends: Sequence[str], chunking: ChunkingSettings, embedding: EmbeddingSettings
) -> dict[str, Any]:
    config = chunking_config(chunking)
    owners: list[str] = []
    texts: list[str] = []
    for doc in dataset.corpus:
        content = (doc.text or doc.title)[:MAX_CONTENT_CHARS]
        for span in chunk_document(content, "text/plain", config)[1]:
            owners.append(doc.id)
            texts.append(passage_input(doc.title, span.heading or "", span.text))
    query_ids = list(dataset.queries)
    names = [REFERENCE, *(b for b in backends if b != REFERENCE)]
    pairs = {name: split_pair(name) for name in names}
    passage_side = {p for p, _ in pairs.values()}
    passages: dict[str, np.ndarray[Any, Any]] = {}
    queries: dict[str, np.ndarray[Any, Any]] = {}
    speed: dict[str, float] = {}
    versions: dict[str, str] = {}
    for backend in dict.fromkeys(b for pair in pairs.values() for b in pair):
        # Also a backend this CPU runs slowly (bf16 without AMX): its vectors are the same math.
        embedder = load_embedder(embedding.model_copy(update={"backend": backend}), any_cpu=True)
        versions[backend] = embedder.version
        if backend in passage_side:
            started = time.perf_counter()
            passages[backend] = embedder.embed_passages(texts)
            speed[backend] = round(len(texts) / (time.perf_counter() - started), 2)
        queries[backend] = np.stack([embedder.embed_query(dataset.queries[q]) for q in query_ids])
    scores: dict[str, dict[str, dict[str, float]]] = {}
    results: dict[str, dict[str, Any]] = {}
    for name, (passage_backend, query_backend) in pairs.items():
        rankings = _rankings(queries[query_backend] @ passages[passage_backend].T, query_ids, owners)
        scores[name] = per_query(rankings, dataset.qrels)
        results[name] = {
            "version": versions[passage_backend],
            **({} if query_backend == passage_backend else {"query_version": versions[query_backend]}),
            **{k: round(v, 4) for k, v in mean_scores(scores[name]).items()},
            "passages_per_s": speed[passage_backend],
        }
    reference = {q: s["ndcg@10"] for q, s in scores[REFERENCE].items()}
    for name in names:
        delta, error = paired_difference({q: s["ndcg@10"] for q, s in scores[name].items()}, reference)
        results[name]["ndcg@10_delta_vs_fp32"] = round(delta, 4)
        results[name]["ndcg@10_delta_se"] = round(error, 4)
    return {
        "eval": "backends",
        "dataset": dataset.name,
        "split": dataset.split,
        "mode": "dense (documents ranked by their best chunk)",
        "queries": len(query_ids),
        "documents": len(dataset.corpus),
        "chunks": len(texts),
        "backends": results,
        "within_tolerance": [n for n in names if abs(results[n]["ndcg@10_delta_vs_fp32"]) <= TOLERANCE],
        "tolerance": TOLERANCE,
    }


def split_pair(name: str) -> tuple[str, str]:
    """`PASSAGES/QUERIES` as its two backends; a backend alone embeds both."""
    passage_backend, _, query_backend = name.partition("/")
    return passage_backend, query_backend or passage_backend


def _rankings(
    similarity: np.ndarray[Any, Any], query_ids: list[str], owners: list[str]
) -> dict[str, list[str]]:
    """Per query, documents by their best chunk's score, `DEPTH` deep."""
    out: dict[str, list[str]] = {}
    for row, query in zip(similarity, query_ids, strict=True):
        ranked: list[str] = []
        seen: set[str] = set()
        for i in np.argsort(-row, kind="stable"):
            owner = owners[int(i)]
            if owner not in seen:
                seen.add(owner)
                ranked.append(owner)
                if len(ranked) == DEPTH:
                    break
        out[query] = ranked
    return out
