"""`bench rebuild`: replaying stored embeddings from the embeddings topic into a fresh index generation,
the work a blue/green rebuild does (no model involved: the vectors are in the log).

Without --prefix the topic is filled first with synthetic DocumentEmbedded records (not timed); with
--prefix an existing pipeline's topic is replayed (for example an `eval-...` one).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ragstream.bench.memory import PeakMemory
from ragstream.bench.synthetic import DIMENSION, embedded_records
from ragstream.bench.topic import read_batches
from ragstream.codec import load_codec
from ragstream.kafka import create_topics, make_producer
from ragstream.queries.indexing.generation import Generation
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.settings import Settings, get_settings
from ragstream.topics import catalogue, document_key


def run(chunks: int, prefix: str | None) -> dict[str, Any]:
    settings = get_settings()
    with PeakMemory() as memory:
        if prefix is None:
            prefix = f"bench-rebuild-{uuid.uuid4().hex[:8]}"
            fill_s = asyncio.run(_fill(settings, prefix, chunks))
            source = "synthetic DocumentEmbedded records (random unit vectors, real-ish text)"
        else:
            fill_s = 0.0
            source = f"existing topic of pipeline {prefix}"
        root = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
        try:
            result = asyncio.run(_replay(settings, prefix, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        peaks = memory.peaks_mb()
    return {
        "bench": "rebuild",
        "chunks": result["chunks"],
        "chunks_per_s": round(result["chunks"] / result["replay_s"], 1),
        "documents": result["documents"],
        "records": result["records"],
        "replay_s": round(result["replay_s"], 2),
        "fetch_decode_s": round(result["fetch_decode_s"], 2),
        "apply_s": round(result["apply_s"], 2),
        "optimize_s": round(result["optimize_s"], 2),
        "source": source,
        "fill_s": round(fill_s, 2),
        "peak_rss_mb": peaks,
    }


async def _fill(settings: Settings, prefix: str, chunks: int) -> float:
    topic = catalogue(prefix).embeddings
    await create_topics(settings.kafka, [topic])
    codec = load_codec(settings.codec)
    producer = make_producer(settings.kafka, client_suffix="bench")
    started = time.perf_counter()
    await producer.start()
    try:
        pending = []
        for record in embedded_records(chunks, topic=f"{prefix}.document-commands"):
            key = document_key(record["tenant"], record["document_id"])
            pending.append(await producer.send(topic.name, codec.encode("DocumentEmbedded", record), key=key))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _replay(settings: Settings, prefix: str, root: Path) -> dict[str, Any]:
    codec = load_codec(settings.codec)
    topic = catalogue(prefix).embeddings.name
    generation = Generation.open(root, "g2", DIMENSION)
    chunks = records = 0
    apply_s = 0.0
    started = time.perf_counter()
    try:
        # Fetch and decode happen in read_batches; apply in a thread, as the index feed does.
        async for batch in read_batches(settings.kafka, topic, codec):
            records += len(batch)
            chunks += sum(len(r.record.get("chunks", ())) for r in batch if r.name == "DocumentEmbedded")
            applied = time.perf_counter()
            await asyncio.to_thread(generation.projector.apply_batch, batch)
            apply_s += time.perf_counter() - applied
        replay_s = time.perf_counter() - started
        documents = generation.projector.state.count_documents()
        vector = generation.projector.vector
        assert isinstance(vector, QdrantEdgeVectorIndex)
        optimized = time.perf_counter()
        vector.optimize()
        optimize_s = time.perf_counter() - optimized
    finally:
        generation.close()
    return {
        "chunks": chunks, "documents": documents, "records": records, "replay_s": replay_s,
        "apply_s": apply_s, "fetch_decode_s": replay_s - apply_s, "optimize_s": optimize_s,
    }  # fmt: skip
