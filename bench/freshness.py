"""`bench freshness`: command produced -> visible in query results, at a steady write load.

Each document carries a unique word. Its search carries the write's consistency token, which the
query API holds until the indexes have applied that position, so visibility is observed the moment
it happens without polling; the hit is then checked to be there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from ragstream.bench.corpus import ACTOR, TENANT, documents
from ragstream.bench.memory import PeakMemory
from ragstream.bench.pipeline import BenchPipeline, fresh_pipeline
from ragstream.bench.stats import latency_summary, percentile
from ragstream.bench.topic import command_timestamps
from ragstream.codec import load_codec
from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import UpsertDocument
from ragstream.topics import catalogue


def run(rate: float, duration_s: float, warmup_s: float = 5.0) -> dict[str, Any]:
    holder: dict[str, BenchPipeline] = {}
    with PeakMemory(lambda: holder["p"].process_names() if "p" in holder else {}) as memory:
        with fresh_pipeline("freshness") as pipeline:
            holder["p"] = pipeline
            pipeline.warm_up()
            samples, visible, sent, misses = asyncio.run(_load(pipeline, rate, duration_s, warmup_s))
            chunks = pipeline.ready()["chunks"]
            hops = asyncio.run(_hops(pipeline, visible))
        peaks = memory.peaks_mb()
    summary = latency_summary(samples, duration_s, unit="s")
    return {
        "bench": "freshness",
        "p50_s": summary["p50_s"],
        "p95_s": summary["p95_s"],
        "p99_s": summary["p99_s"],
        "load_per_s": rate,
        "samples": len(samples),
        "documents_sent": sent,
        "not_visible": misses,
        "chunks_per_document": round(chunks / max(1, sent), 2),
        "duration_s": duration_s,
        "hops_p50_s": hops,
        "peak_rss_mb": peaks,
        # Raw seconds for --plot; taken out before the result is printed (ragstream.bench.plots).
        "_samples_s": samples,
    }


def _document(base: UpsertDocument, number: int) -> tuple[UpsertDocument, str]:
    word = f"fresh{uuid.uuid4().hex[:12]}"
    # One paragraph of real prose plus the unique word: about one chunk, a typical small page edit.
    content = base.content[:700] + f"\n\nMarker {word}."
    doc = UpsertDocument(
        tenant=TENANT, document_id=f"fresh/{number}", actor=ACTOR, title=base.title, content=content
    )
    return doc, word


async def _hops(pipeline: BenchPipeline, visible: dict[str, float]) -> dict[str, float]:
    """Median latency of each hop, from the Kafka timestamps of each command's record on every topic
    (producer clocks: all on this machine) and the moment its search returned."""
    settings = pipeline.pipeline.settings
    topics = catalogue(settings.kafka.topic_prefix)
    codec = load_codec(settings.codec.schemas_dir)
    stamps = [
        await command_timestamps(settings.kafka, t.name, codec)
        for t in (topics.commands, topics.events, topics.chunks, topics.embeddings)
    ]
    stamps.append(visible)
    names = ("produced->validated", "validated->chunked", "chunked->embedded", "embedded->searchable")
    hops = {}
    for name, before, after in zip(names, stamps, stamps[1:], strict=False):
        deltas = [after[c] - before[c] for c in visible if c in before and c in after]
        hops[name] = round(percentile(deltas, 50), 3)
    return hops


async def _load(
    pipeline: BenchPipeline, rate: float, duration_s: float, warmup_s: float
) -> tuple[list[float], dict[str, float], int, int]:
    corpus = documents(79)
    samples: list[float] = []
    visible_at: dict[str, float] = {}  # command_id -> wall clock when its search returned it
    misses = 0
    interval = 1.0 / rate
    tasks: list[asyncio.Task[None]] = []
    settings = pipeline.pipeline.settings

    async with CommandProducer(settings) as producer, httpx.AsyncClient(timeout=60) as client:

        async def observe(started: float, command_id: str, token: str, word: str, measured: bool) -> None:
            nonlocal misses
            body = {"query": word, "limit": 1, "mode": "bm25", "consistency_token": token}
            while True:
                response = await client.post(f"{pipeline.pipeline.query_url}/v1/search", json=body)
                if response.status_code == 200:
                    break
                if response.status_code != 504:
                    raise RuntimeError(f"search failed: {response.status_code} {response.text}")
            visible = time.perf_counter()
            if not response.json()["hits"]:
                misses += 1
            elif measured:
                samples.append(visible - started)
                visible_at[command_id] = time.time()

        began = time.perf_counter()
        number = 0
        # Open-loop: writes go out on schedule whatever the pipeline does, as real writers would.
        while (now := time.perf_counter()) < began + warmup_s + duration_s:
            doc, word = _document(corpus[number % len(corpus)], number)
            started = time.perf_counter()
            written = await producer.send(doc)
            measured = now >= began + warmup_s
            observed = observe(started, written.command_id, written.position.token, word, measured)
            tasks.append(asyncio.create_task(observed))
            number += 1
            await asyncio.sleep(max(0.0, began + number * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
    return samples, visible_at, number, misses
