"""Replay: re-read a range of the embeddings topic and re-apply it to chosen read models.

A replay has its own consumer and never moves the live feed's offsets; it stops where the live feed
stood when it began, so everything it reads has been applied once already. The projector re-applies
only events at exactly the version the generation holds (see `IndexProjector.reapply_batch`), so a
replay repairs the current version of each document in the chosen read models, and running it twice
leaves the same indexes as running it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from ragstream.codec import Codec, load_codec
from ragstream.logread import decode_batches, open_log_consumer
from ragstream.queries.admin.jobs import Job
from ragstream.queries.indexing.generation import Generation, current_generation, read_manifest
from ragstream.queries.indexing.projector import IndexProjector
from ragstream.settings import KafkaSettings, Settings


async def replay(
    job: Job,
    *,
    kafka: KafkaSettings,
    topic: str,
    codec: Codec,
    projector: IndexProjector,
    read_models: Sequence[str],
    target: dict[int, int],
    from_offset: int | None = None,
    from_time: datetime | None = None,
    tenant: str | None = None,
) -> None:
    """Re-apply [start, target) of every partition; `target` is the applied position (next offsets).
    With `tenant`, only that tenant's documents are re-applied (the others are read and left alone)."""
    consumer, tps = await open_log_consumer(kafka, topic, "replay")
    try:
        job.phase = "seeking"
        starts = await _start_offsets(consumer, tps, target, from_offset, from_time)
        job.detail = {
            "from": {str(p): o for p, o in starts.items()},
            "to": {str(p): o for p, o in target.items()},
        }
        job.total = sum(target.get(p, 0) - s for p, s in starts.items())
        remaining = {tp for tp in tps if starts[tp.partition] < target.get(tp.partition, 0)}
        for tp in tps:
            consumer.seek(tp, starts[tp.partition])
        consumer.pause(*[tp for tp in tps if tp not in remaining])
        job.phase = "replaying"
        while remaining:
            fetched = await consumer.getmany(timeout_ms=500, max_records=500)
            batches = {
                tp: [m for m in msgs if m.offset < target[tp.partition]] for tp, msgs in fetched.items()
            }
            job.done += sum(len(msgs) for msgs in batches.values())
            records, _ = decode_batches(codec, batches)
            if tenant is not None:
                records = [r for r in records if r.record.get("tenant") == tenant]
            if records:
                result = await asyncio.to_thread(projector.reapply_batch, records, read_models)
                job.applied += len(result.applied)
                job.skipped += result.skipped
            for tp in list(remaining):
                if await consumer.position(tp) >= target[tp.partition]:
                    remaining.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()


async def _start_offsets(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    target: dict[int, int],
    from_offset: int | None,
    from_time: datetime | None,
) -> dict[int, int]:
    beginning = await consumer.beginning_offsets(tps)
    starts: dict[int, int] = {}
    by_time = (
        await consumer.offsets_for_times({tp: int(from_time.timestamp() * 1000) for tp in tps})
        if from_time is not None
        else {}
    )
    for tp in tps:
        end = target.get(tp.partition, 0)
        if from_time is not None:
            found = by_time.get(tp)
            # No record at or after that time: nothing of this partition to replay.
            wanted = end if found is None else found.offset
        else:
            wanted = from_offset if from_offset is not None else 0
        starts[tp.partition] = max(int(beginning[tp]), min(wanted, end))
    return starts


async def replay_offline(
    settings: Settings,
    job: Job,
    read_models: Sequence[str],
    from_offset: int | None,
    from_time: datetime | None,
) -> None:
    """Replay into the current generation on disk, for when no query API runs.

    The indexes take single-writer locks, so this fails (IndexLockedError) while a query API holds
    the generation: use the API's replay then. No model is loaded: the log holds the vectors.
    """
    from ragstream.queries.admin.live import generation_topic
    from ragstream.queries.readmodels.shared import local_read_models

    root = settings.index.data_dir
    name = current_generation(root)
    manifest = read_manifest(root, name) if name is not None else None
    if name is None or manifest is None:
        raise FileNotFoundError(f"no current generation under {root}")
    generation = await asyncio.to_thread(
        Generation.open, root, name, manifest.dimension, local_read_models(settings)
    )
    job.generation = generation.name
    try:
        topic = generation_topic(settings, manifest)
        await replay(
            job, kafka=settings.kafka, topic=topic, codec=load_codec(settings.codec),
            projector=generation.projector, read_models=read_models,
            target=generation.projector.state.next_offsets(topic), from_offset=from_offset, from_time=from_time,
        )  # fmt: skip
    finally:
        generation.close()
