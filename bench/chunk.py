"""`bench chunk`: what chunking costs the stream worker, per document of the bench corpus.

The chunk stage runs once per document change, on the worker that also runs the model, and a burst
of long documents (a bulk import) queues every edit written after it behind their chunking. This
times `chunk_upserted` (extraction, parsing, model-token budgets, overlaps) with the worker's own
policy on the bench corpus's documents, in this process and without Kafka, after one untimed pass.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ragstream.bench.corpus import documents
from ragstream.bench.stats import latency_summary
from ragstream.settings import get_settings
from ragstream.streams.stages import ChunkingPolicy, budget_tokenizer, chunk_upserted
from ragstream.streams.versioning import decide


def run(count: int, rounds: int) -> dict[str, Any]:
    settings = get_settings()
    tokenizer = budget_tokenizer(settings.chunking, settings.embedding)
    policy = ChunkingPolicy(settings.chunking, tokenizer)
    events = [
        decide("UpsertDocument", doc.model_dump(), None, position="bench/0/0", now=datetime.now(UTC)).event
        for doc in documents(count, prefix="chunk")
    ]

    def chunk_all() -> list[float]:
        seconds = []
        for event in events:
            started = time.perf_counter()
            chunk_upserted(event, policy.for_document(event["tenant"], event["metadata"]))
            seconds.append(time.perf_counter() - started)
        return seconds

    chunks = sum(
        len(chunk_upserted(e, policy.for_document(e["tenant"], e["metadata"]))["chunks"]) for e in events
    )
    timed: list[float] = []
    began = time.perf_counter()
    for _ in range(rounds):
        timed += chunk_all()
    wall = time.perf_counter() - began
    per_doc = latency_summary(timed, wall)
    return {
        "bench": "chunk",
        "documents": len(events),
        "chunks": chunks,
        "rounds": rounds,
        "tokenizer": "model" if tokenizer else "estimate",
        "per_document": {k: v for k, v in per_doc.items() if k != "qps"},
        "documents_per_s": per_doc["qps"],
        "chunks_per_s": round(chunks * rounds / wall, 1),
        "characters_per_document": round(sum(len(e["content"]) for e in events) / len(events)),
    }
