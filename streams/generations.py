"""Embedding generations built by the stream workers (see ragstream.embedding.generation).

Every worker follows the embedding-generations topic. For each requested generation it joins a
consumer group of its own on the events topic (so the workers share its partitions), chunks and
embeds every document with the generation's chunk budget and model, and writes the results to the
generation's topic, in log order per partition; deletes, access changes and rejections pass
through, as on the live embeddings topic. It keeps doing so for every later event, so a query node
can build indexes from that topic while writes go on, and keep them current after its swap.

Delivery is at least once: a batch's offsets are committed only after its output was acked, and the
query nodes' projection skips what it has already applied. A worker that cannot load the model
publishes EmbeddingGenerationFailed, and every worker stops building that generation until it is
requested again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from ragstream.codec import Codec, CodecError
from ragstream.embedding import load_embedder
from ragstream.embedding.generation import EmbeddingGeneration
from ragstream.exceptions import ConfigurationError
from ragstream.kafka import create_topics, make_consumer, make_producer
from ragstream.logread import open_log_consumer
from ragstream.settings import Settings
from ragstream.streams.chunking import ChunkingConfig
from ragstream.streams.dlq import DEAD_LETTERS, dead_letter_headers
from ragstream.streams.embedding_cache import CacheScopes, EmbeddingCache
from ragstream.streams.lanes import carried
from ragstream.streams.metrics import PROCESSED
from ragstream.streams.stages import PASS_THROUGH, EmbeddingStage, budget_tokenizer, chunk_upserted
from ragstream.topics import catalogue

log = logging.getLogger("ragstream.streams.generations")
Message: TypeAlias = ConsumerRecord[bytes, bytes]


class GenerationUnbuildable(Exception):
    """This worker cannot build the generation (its model cannot be loaded here)."""


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class GenerationBuilder:
    """Chunks and embeds the events topic into one generation's topic."""

    def __init__(
        self,
        settings: Settings,
        generation: EmbeddingGeneration,
        codec: Codec,
        cache: Callable[[], Awaitable[EmbeddingCache]],
    ) -> None:
        self._settings = settings
        self.generation = generation
        self._codec = codec
        self._cache = cache
        topics = catalogue(settings.kafka.topic_prefix)
        self._events = topics.events.name
        self._dlq = topics.dlq.name
        self._output = topics.generation_embeddings(generation.id)
        self._processor = f"generation_{generation.id}"

    async def run(self) -> None:
        try:
            embedding = self.generation.embedding_settings(self._settings.embedding)
            embedder = await asyncio.to_thread(load_embedder, embedding, "passages")
            # Budgets in the generation's own model's tokens (or its estimate), whatever this
            # worker's own setting, as the live workers count theirs.
            tokenizer = budget_tokenizer(
                self.generation.chunking_settings(self._settings.chunking), embedding
            )
            config = ChunkingConfig.model_validate({"tokenizer": tokenizer, **self.generation.chunking})
        except (ConfigurationError, OSError, ValueError) as exc:
            raise GenerationUnbuildable(f"{type(exc).__name__}: {exc}") from exc
        scopes = CacheScopes(self._settings.embedding.cache_shared_tenants)
        stage = EmbeddingStage(embedder, await self._cache(), scopes)
        kafka = self._settings.kafka
        await create_topics(kafka, [self._output])
        group = f"{self._settings.streams.app_id}.{self.generation.id}"
        consumer = make_consumer(kafka, self._events, group_id=group, role=self._processor)
        producer = make_producer(kafka, client_suffix=self._processor)
        await consumer.start()
        try:
            await producer.start()
            log.info("building embedding generation %s into %s", self.generation.id, self._output.name)
            while True:
                fetched = await consumer.getmany(
                    timeout_ms=500, max_records=self._settings.embedding.batch_size
                )
                if not fetched:
                    continue
                await self._process(fetched, config, stage, producer)
                offsets = {tp: messages[-1].offset + 1 for tp, messages in fetched.items() if messages}
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, IllegalStateError) as exc:
                    # The partitions moved in a rebalance: their new owner redoes the batch, and the
                    # query nodes' version guard absorbs the duplicate output.
                    log.info("generation %s: commit after a rebalance refused: %s", self.generation.id, exc)
        finally:
            await consumer.stop()
            await producer.stop()

    async def _process(
        self,
        fetched: Mapping[TopicPartition, Sequence[Message]],
        config: ChunkingConfig,
        stage: EmbeddingStage,
        producer: AIOKafkaProducer,
    ) -> None:
        # (message, bytes to write or None for a chunked record embedded below)
        outputs: list[tuple[Message, bytes | None]] = []
        chunked: list[dict[str, Any]] = []
        for messages in fetched.values():
            for msg in messages:
                try:
                    decoded = self._codec.decode(msg.value or b"")
                    if decoded.name == "DocumentUpserted":
                        chunked.append(chunk_upserted(decoded.record, config))
                        outputs.append((msg, None))
                    elif decoded.name in PASS_THROUGH:
                        outputs.append((msg, msg.value))
                    else:
                        raise ValueError(f"{decoded.name} does not belong on {msg.topic}")
                except (CodecError, ValueError, KeyError, TypeError) as exc:
                    await self._dead_letter(producer, msg, exc)
        embedded = iter(await stage.embed(chunked) if chunked else [])
        pending = []
        for msg, value in outputs:
            if value is None:
                value = self._codec.encode("DocumentEmbedded", next(embedded))
            # The lane headers keep read-your-writes positions per lane on this topic too.
            headers = carried(msg.headers)
            pending.append(await producer.send(self._output.name, key=msg.key, value=value, headers=headers))
        await asyncio.gather(*pending)
        PROCESSED.labels(self._processor).inc(len(outputs))

    async def _dead_letter(self, producer: AIOKafkaProducer, msg: Message, error: BaseException) -> None:
        log.warning("generation %s: dead-lettering %s/%s/%s: %s", self.generation.id, msg.topic,
                    msg.partition, msg.offset, error)  # fmt: skip
        DEAD_LETTERS.labels(self._processor).inc()
        headers = dead_letter_headers(
            processor=self._processor,
            error=error,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        )
        sent = await producer.send(
            self._dlq, key=msg.key, value=msg.value or b"", headers=list(headers.items())
        )
        await sent


class GenerationFollower:
    """Starts and stops this worker's builders as generations are requested, fail or are retired."""

    def __init__(
        self, settings: Settings, codec: Codec, cache: Callable[[], Awaitable[EmbeddingCache]]
    ) -> None:
        self._settings = settings
        self._codec = codec
        self._cache = cache
        self._topic = catalogue(settings.kafka.topic_prefix).generations.name
        self._live = EmbeddingGeneration.live(settings)
        self.builders: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        await create_topics(self._settings.kafka, [catalogue(self._settings.kafka.topic_prefix).generations])
        consumer, tps = await open_log_consumer(self._settings.kafka, self._topic, "generations")
        try:
            await consumer.seek_to_beginning(*tps)
            while True:
                fetched = await consumer.getmany(timeout_ms=1000)
                for messages in fetched.values():
                    for msg in messages:
                        await self._on_control(msg)
        finally:
            await consumer.stop()
            for task in self.builders.values():
                task.cancel()
            await asyncio.gather(*self.builders.values(), return_exceptions=True)

    async def _on_control(self, msg: Message) -> None:
        generation_id = (msg.key or b"").decode(errors="replace")
        if msg.value is None:  # retired
            self._stop(generation_id)
            return
        try:
            decoded = self._codec.decode(msg.value)
        except CodecError as exc:
            log.warning("skipping an undecodable control record %s/%s: %s", msg.partition, msg.offset, exc)
            return
        if decoded.name == "EmbeddingGenerationFailed":
            self._stop(generation_id)
        elif decoded.name == "RequestEmbeddingGeneration":
            try:
                generation = EmbeddingGeneration.from_request(decoded.record)
            except ValueError as exc:
                # Reported like a model no worker can load, so the rebuild waiting on it fails.
                await self._publish_failure(generation_id, str(exc))
                return
            if generation.id != generation_id or generation == self._live:
                return  # a forged key, or the live generation the pipeline writes anyway
            if generation_id not in self.builders:
                self.builders[generation_id] = asyncio.create_task(
                    self._build(generation), name=f"generation-{generation_id}"
                )

    def _stop(self, generation_id: str) -> None:
        task = self.builders.pop(generation_id, None)
        if task is not None:
            task.cancel()

    async def _build(self, generation: EmbeddingGeneration) -> None:
        builder = GenerationBuilder(self._settings, generation, self._codec, self._cache)
        try:
            await builder.run()
        except GenerationUnbuildable as exc:
            await self._publish_failure(generation.id, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not this generation's fault (say, the broker went away): the next request retries it.
            log.exception("building embedding generation %s stopped", generation.id)
        finally:
            if self.builders.get(generation.id) is asyncio.current_task():
                self.builders.pop(generation.id, None)

    async def _publish_failure(self, generation_id: str, error: str) -> None:
        log.error("cannot build embedding generation %s: %s", generation_id, error)
        record = {
            "schema_version": 1,
            "generation_id": generation_id,
            "worker": _worker_name(),
            "error": error[:2000],
            "failed_time": datetime.now(UTC),
        }
        producer = make_producer(self._settings.kafka, client_suffix="generations")
        await producer.start()
        try:
            value = self._codec.encode("EmbeddingGenerationFailed", record)
            await (await producer.send(self._topic, key=generation_id.encode(), value=value))
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()
