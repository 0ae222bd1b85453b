"""`bench freshness`: command produced -> visible in query results, at a steady write load.

Each document carries a unique word. Its search carries the write's consistency token, which the
query API holds until the indexes have applied that position, so visibility is observed the moment
it happens without polling; the hit is then checked to be there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from ragstream.bench.corpus import ACTOR, TENANT, documents
from ragstream.bench.memory import PeakMemory
from ragstream.bench.pipeline import BenchPipeline, fresh_pipeline
from ragstream.bench.stats import latency_summary, percentile
from ragstream.bench.topic import command_timestamps
from ragstream.codec import load_codec
from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import UpsertDocument, consistency_token
from ragstream.settings import ChunkingSettings
from ragstream.streams.chunking import chunk_document
from ragstream.streams.lanes import passages_per_call
from ragstream.streams.stages import chunking_config
from ragstream.topics import Lane, catalogue


def run(rate: float, duration_s: float, warmup_s: float = 5.0, bulk_chunks: int = 0) -> dict[str, Any]:
    """With `bulk_chunks`, a bulk import of that many chunks is written at the end of the warm-up,
    and only the single edits sent while it is being processed are measured."""
    holder: dict[str, BenchPipeline] = {}
    bulk = bulk_documents(bulk_chunks) if bulk_chunks else []
    with PeakMemory(lambda: holder["p"].process_names() if "p" in holder else {}) as memory:
        with fresh_pipeline("freshness") as pipeline:
            holder["p"] = pipeline
            pipeline.warm_up()
            load = asyncio.run(_load(pipeline, rate, duration_s, warmup_s, bulk))
            chunks = pipeline.ready()["chunks"]
            embedding = pipeline.pipeline.settings.embedding
            hops = asyncio.run(_hops(pipeline, load.visible_at))
        peaks = memory.peaks_mb()
    summary = latency_summary(load.samples, duration_s, unit="s")
    out: dict[str, Any] = {
        "bench": "freshness",
        "p50_s": summary["p50_s"],
        "p95_s": summary["p95_s"],
        "p99_s": summary["p99_s"],
        "load_per_s": rate,
        "samples": len(load.samples),
        "documents_sent": load.sent,
        "not_visible": load.misses,
        "chunks_per_document": round((chunks - load.bulk_chunks) / max(1, load.sent), 2),
        "duration_s": duration_s,
        "hops_p50_s": hops[50],
        # Where the tail comes from: each hop's own 99th percentile (not the parts of one edit's p99).
        "hops_p99_s": hops[99],
        # Raw seconds for --plot; taken out before the result is printed (ragstream.bench.plots).
        "_samples_s": load.samples,
    }
    if bulk:
        out["under_bulk"] = {
            "bulk_documents": len(bulk),
            "bulk_chunks": load.bulk_chunks,
            "bulk_searchable_s": round(load.bulk_s, 2),
            "bulk_chunks_per_s": round(load.bulk_chunks / load.bulk_s, 1) if load.bulk_s else None,
            "passages_per_call": {
                lane.value: passages_per_call(embedding, lane) for lane in (Lane.INTERACTIVE, Lane.BULK)
            },
        }
    out["peak_rss_mb"] = peaks
    return out


def bulk_documents(chunks: int) -> list[UpsertDocument]:
    """Documents of the bench corpus (prefixed, so none is cached) adding up to `chunks` chunks."""
    config = chunking_config(ChunkingSettings())
    out: list[UpsertDocument] = []
    total = 0
    for doc in documents(max(1, chunks // 4), prefix="bulk"):
        if total >= chunks:
            break
        total += len(chunk_document(doc.content, doc.content_type.value, config)[1])
        out.append(doc)
    return out


@dataclass
class _Load:
    samples: list[float] = field(default_factory=list)
    # command_id -> wall clock when its search returned it
    visible_at: dict[str, float] = field(default_factory=dict)
    sent: int = 0
    misses: int = 0
    bulk_chunks: int = 0
    bulk_s: float = 0.0


def _document(base: UpsertDocument, number: int) -> tuple[UpsertDocument, str]:
    word = f"fresh{uuid.uuid4().hex[:12]}"
    # One paragraph of real prose plus the unique word: about one chunk, a typical small page edit.
    content = base.content[:700] + f"\n\nMarker {word}."
    doc = UpsertDocument(
        tenant=TENANT, document_id=f"fresh/{number}", actor=ACTOR, title=base.title, content=content
    )
    return doc, word


async def _hops(pipeline: BenchPipeline, visible: dict[str, float]) -> dict[int, dict[str, float]]:
    """Latency percentiles (50th and 99th) of each hop, from the Kafka timestamps of each command's record on every topic
    (producer clocks: all on this machine) and the moment its search returned."""
    settings = pipeline.pipeline.settings
    topics = catalogue(settings.kafka.topic_prefix)
    codec = load_codec(settings.codec)
    stamps = [
        await command_timestamps(settings.kafka, t.name, codec)
        for t in (topics.commands, topics.events, topics.chunks, topics.embeddings)
    ]
    stamps.append(visible)
    names = ("produced->validated", "validated->chunked", "chunked->embedded", "embedded->searchable")
    hops: dict[int, dict[str, float]] = {50: {}, 99: {}}
    for name, before, after in zip(names, stamps, stamps[1:], strict=False):
        deltas = [after[c] - before[c] for c in visible if c in before and c in after]
        for p, by_hop in hops.items():
            by_hop[name] = round(percentile(deltas, p), 3)
    return hops


async def _load(
    pipeline: BenchPipeline, rate: float, duration_s: float, warmup_s: float, bulk: list[UpsertDocument]
) -> _Load:
    corpus = documents(79)
    out = _Load()
    interval = 1.0 / rate
    tasks: list[asyncio.Task[None]] = []
    settings = pipeline.pipeline.settings
    bulk_done = asyncio.Event()
    bulk_task: asyncio.Task[None] | None = None

    # Every write is observed by a search that holds its connection until the write is visible;
    # under a bulk import hundreds wait at once, so the pool must not cap them.
    client_limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
    timeout = httpx.Timeout(60.0, pool=None)
    async with (
        CommandProducer(settings) as producer,
        httpx.AsyncClient(timeout=timeout, limits=client_limits) as client,
    ):

        async def visible(token: str, query: str) -> httpx.Response:
            body = {"query": query, "limit": 1, "mode": "bm25", "consistency_token": token}
            while True:
                response = await client.post(f"{pipeline.pipeline.query_url}/v1/search", json=body)
                if response.status_code == 200:
                    return response
                if response.status_code != 504:
                    raise RuntimeError(f"search failed: {response.status_code} {response.text}")

        async def observe(started: float, command_id: str, token: str, word: str, measured: bool) -> None:
            response = await visible(token, word)
            seen = time.perf_counter()
            if not response.json()["hits"]:
                out.misses += 1
            elif measured:
                out.samples.append(seen - started)
                out.visible_at[command_id] = time.time()

        async def import_bulk() -> None:
            before = pipeline.ready()["chunks"]
            started = time.perf_counter()
            # In the bulk lane, as `ragstream ingest` writes: its token waits for that lane.
            written = await producer.send_bulk(bulk)
            await visible(consistency_token(w.position for w in written), "bulk")
            out.bulk_s = time.perf_counter() - started
            out.bulk_chunks = pipeline.ready()["chunks"] - before
            bulk_done.set()

        began = time.perf_counter()
        number = 0
        # Open-loop: writes go out on schedule whatever the pipeline does, as real writers would.
        while (now := time.perf_counter()) < began + warmup_s + duration_s:
            if now >= began + warmup_s:
                if bulk and bulk_task is None:
                    bulk_task = asyncio.create_task(import_bulk())
                elif bulk_done.is_set():
                    break  # under bulk, only edits sent while the bulk was in flight count
            doc, word = _document(corpus[number % len(corpus)], number)
            started = time.perf_counter()
            written = await producer.send(doc)
            measured = now >= began + warmup_s
            observed = observe(started, written.command_id, written.position.token, word, measured)
            tasks.append(asyncio.create_task(observed))
            number += 1
            await asyncio.sleep(max(0.0, began + number * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
        if bulk_task is not None:
            await bulk_task
    out.sent = number
    return out
