"""Asking the stream workers for an embedding generation, and hearing when they cannot build it.

The embedding-generations topic is the only channel between a query node and the workers: the node
writes RequestEmbeddingGeneration keyed by the generation id, a worker that cannot build it writes
EmbeddingGenerationFailed under the same key, and a tombstone retires it (see
ragstream.embedding.generation and the workers' ragstream.streams.generations).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ragstream.codec import Codec, CodecError
from ragstream.embedding.generation import EmbeddingGeneration
from ragstream.kafka import create_topics, make_producer
from ragstream.logread import open_log_consumer
from ragstream.settings import Settings
from ragstream.topics import Topics, catalogue


class EmbeddingGenerations:
    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._settings = settings
        self._codec = codec
        self._topics: Topics = catalogue(settings.kafka.topic_prefix)

    def topic(self, generation: EmbeddingGeneration) -> str:
        return generation.topic(self._topics, self._settings)

    def is_live(self, generation: EmbeddingGeneration) -> bool:
        """Whether the workers' own pipeline writes this generation (the embeddings topic)."""
        return generation == EmbeddingGeneration.live(self._settings)

    async def request(self, generation: EmbeddingGeneration, requested_by: str) -> int:
        """Creates the generation's topic (so a feed can open it at once) and asks the workers to
        fill it; returns the request's offset on the control topic."""
        kafka = self._settings.kafka
        await create_topics(
            kafka, [self._topics.generations, self._topics.generation_embeddings(generation.id)]
        )
        value = self._codec.encode(
            "RequestEmbeddingGeneration", generation.request(requested_by, datetime.now(UTC))
        )
        return await self._send(generation.id, value)

    async def retire(self, generation_id: str) -> None:
        """The workers stop building it (its topic and what query nodes built from it stay)."""
        await self._send(generation_id, None)

    async def failure(self, generation_id: str, after_offset: int) -> str | None:
        """The error a worker reported for the generation after its request, if one did."""
        consumer, tps = await open_log_consumer(
            self._settings.kafka, self._topics.generations.name, "generations"
        )
        try:
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            error = None
            for tp in tps:
                while await consumer.position(tp) < ends[tp]:
                    for msg in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                        if msg.key != generation_id.encode() or msg.offset <= after_offset or not msg.value:
                            continue
                        try:
                            decoded = self._codec.decode(msg.value)
                        except CodecError:
                            continue
                        if decoded.name == "EmbeddingGenerationFailed":
                            error = f"{decoded.record['worker']}: {decoded.record['error']}"
            return error
        finally:
            await consumer.stop()

    async def _send(self, generation_id: str, value: bytes | None) -> int:
        producer = make_producer(self._settings.kafka, client_suffix="generations")
        await producer.start()
        try:
            sent = await producer.send(self._topics.generations.name, key=generation_id.encode(), value=value)
            return int((await sent).offset)
        finally:
            await producer.stop()
