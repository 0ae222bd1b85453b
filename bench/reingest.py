"""`bench reingest`: what re-sending a corpus costs when nothing changed, and when 10% of the documents
had one paragraph edited, against a fresh ingest of the same corpus in the same run."""

from __future__ import annotations

import asyncio
from typing import Any

from ragstream.bench.corpus import documents, edit_fraction, resend
from ragstream.bench.memory import PeakMemory
from ragstream.bench.pipeline import BenchPipeline, fresh_pipeline
from ragstream.bench.topic import embeddings_computed, end_offsets
from ragstream.codec import load_codec
from ragstream.contracts import UpsertDocument
from ragstream.topics import catalogue


def run(docs: int, edited: float = 0.1) -> dict[str, Any]:
    commands = documents(docs)
    holder: dict[str, BenchPipeline] = {}
    with PeakMemory(lambda: holder["p"].process_names() if "p" in holder else {}) as memory:
        with fresh_pipeline("reingest") as pipeline:
            holder["p"] = pipeline
            pipeline.warm_up()
            fresh = _phase(pipeline, commands)
            chunks = pipeline.ready()["chunks"]
            unchanged = _phase(pipeline, resend(commands))
            changed = _phase(pipeline, edit_fraction(commands, edited))
        peaks = memory.peaks_mb()

    def summary(phase: tuple[float, int, int]) -> dict[str, Any]:
        seconds, computed, records = phase
        return {
            "embeddings": computed,
            "documents_embedded": records,
            "seconds": round(seconds, 2),
            "relative_time": round(seconds / fresh[0], 4),
        }

    return {
        "bench": "reingest",
        "docs": docs,
        "chunks": chunks,
        "fresh": {"embeddings": fresh[1], "documents_embedded": fresh[2], "seconds": round(fresh[0], 2)},
        "unchanged": summary(unchanged),
        f"edited_{round(edited * 100)}pct": summary(changed),
        "peak_rss_mb": peaks,
    }


def _phase(pipeline: BenchPipeline, commands: list[UpsertDocument]) -> tuple[float, int, int]:
    """(seconds until all searchable, embeddings computed, DocumentEmbedded records) for one send."""
    settings = pipeline.pipeline.settings
    topic = catalogue(settings.kafka.topic_prefix).embeddings.name
    start = asyncio.run(end_offsets(settings.kafka, topic))
    seconds = pipeline.ingest(commands)
    computed, records = asyncio.run(
        embeddings_computed(settings.kafka, topic, load_codec(settings.codec), start)
    )
    return seconds, computed, records
