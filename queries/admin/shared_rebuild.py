"""Blue/green rebuild of the shared OpenSearch keyword index from the embeddings topic.

The stream workers keep writing through the alias while this runs. The job fills the next index
generation from the beginning of the log, swaps the alias once it has caught up with the workers,
then keeps applying until it has passed the log's end as read *after* the swap: anything the
workers wrote into the old generation before the swap is in the new one too, and everything after
the swap the workers write into the new one themselves. OpenSearch's external versioning makes
the overlap harmless (an older version never replaces a newer one), which is also why a Qdrant
server vector index, which has no such guard, is not rebuilt this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer

from ragstream.codec import Codec
from ragstream.logread import decode_batches, next_offsets, open_log_consumer
from ragstream.queries.admin.jobs import Job
from ragstream.queries.readmodels.opensearch_index import IndexGenerations, OpenSearchKeywordIndex
from ragstream.queries.readmodels.projection import apply_records, plan_batch
from ragstream.queries.readmodels.shared import opensearch_client
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.records import LogRecord
from ragstream.settings import Settings
from ragstream.topics import catalogue


async def swap_then_catch_up(
    swap: Callable[[], Awaitable[list[str]]],
    log_ends: Callable[[], Awaitable[Mapping[int, int]]],
    applied_up_to: Callable[[], Mapping[int, int]],
    apply_next: Callable[[], Awaitable[None]],
) -> list[str]:
    """Swaps the alias to the new generation, then applies the log up to its end as of the swap.

    `applied_up_to` gives, per partition, the next offset the new generation has applied.
    """
    retired = await swap()
    # The ends must be read after the swap, never before: until the swap the workers write into the
    # old generation, and a record they apply there between an earlier read and the swap would lie
    # past those ends, never reach the new generation, and (the workers' shared version state saying
    # it is applied) never be written again. A write that reached the old generation was for a
    # record already in the log when the swap was made, so it lies below ends read afterwards.
    ends = await log_ends()
    while not all(applied_up_to().get(partition, 0) >= end for partition, end in ends.items()):
        await apply_next()
    return retired


class SharedKeywordRebuild:
    def __init__(self, settings: Settings, codec: Codec, state: SharedIndexState) -> None:
        self._settings = settings
        self._codec = codec
        self._state = state
        self._topic = catalogue(settings.kafka.topic_prefix).embeddings.name
        # Versions the new generation holds, built up from the log as it is read.
        self._versions: dict[tuple[str, str], int] = {}
        # The next offset per partition the new generation reads (the consumer's positions).
        self._next: dict[int, int] = {}
        # Highest command position per partition the new generation has applied.
        self._positions: dict[int, int] = {}

    async def run(self, job: Job) -> None:
        client = opensearch_client(self._settings)
        generations = IndexGenerations(client, self._settings.opensearch.index)
        consumer, tps = await open_log_consumer(self._settings.kafka, self._topic, "shared-rebuild")
        try:
            name = await asyncio.to_thread(generations.create_next)
            job.generation = name
            index = await asyncio.to_thread(OpenSearchKeywordIndex, client, name)
            await consumer.seek_to_beginning(*tps)
            job.phase = "building"
            # Caught up: everything the workers had applied when we looked is in the new generation.
            while not self._passed_command_positions(await self._state.command_positions()):
                await self._apply_next(consumer, index, job)
            job.phase = "swapping"

            async def swap() -> list[str]:
                retired = await asyncio.to_thread(generations.swap, name)
                job.detail["retired"] = retired
                job.phase = "catching up"
                return retired

            async def log_ends() -> dict[int, int]:
                return {tp.partition: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}

            await swap_then_catch_up(
                swap, log_ends, lambda: self._next, lambda: self._apply_next(consumer, index, job)
            )
        finally:
            await consumer.stop()
            await asyncio.to_thread(client.close)

    def _passed_command_positions(self, applied_by_workers: Mapping[int, int]) -> bool:
        return all(self._positions.get(p, -1) >= o for p, o in applied_by_workers.items())

    async def _apply_next(self, consumer: AIOKafkaConsumer, index: OpenSearchKeywordIndex, job: Job) -> None:
        batches = await consumer.getmany(timeout_ms=250, max_records=500)
        records, _ = decode_batches(self._codec, batches)
        if records:
            await self._apply(records, index, job)
        # After the records: the consumer's positions, which pass commit markers the records do not.
        self._next = await next_offsets(consumer, sorted(consumer.assignment()))

    async def _apply(self, records: list[LogRecord], index: OpenSearchKeywordIndex, job: Job) -> None:
        applied, skipped = await asyncio.to_thread(self._write, records, index)
        job.done += len(records)
        job.applied += applied
        job.skipped += skipped

    def _write(self, records: list[LogRecord], index: OpenSearchKeywordIndex) -> tuple[int, int]:
        plan = plan_batch(records, lambda tenant, document_id: self._versions.get((tenant, document_id), 0))
        apply_records(plan.to_apply, [index], plan.new_documents)
        index.flush()
        for tenant, document_id, version, _ in plan.applied:
            self._versions[(tenant, document_id)] = version
        for partition, offset in plan.command_positions.items():
            self._positions[partition] = max(self._positions.get(partition, -1), offset)
        return len(plan.applied), plan.skipped
