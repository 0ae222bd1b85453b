"""`bench produce`: the producer SDK's clients side by side, confluent-kafka and aiokafka.

Each writes the same UpsertDocument commands (about 1 KB of text each) through CommandProducer, so
the Avro encoding and the registry's wire format are part of the cost, to a topic of its own:
commands/s with `send_many` batches (the `ragstream ingest --kafka` path), and the latency of one
`send` from call to the broker's ack, one command at a time (what a request of the command API waits).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Literal, get_args

from ragstream.bench.stats import latency_summary
from ragstream.commands.sdk import CommandProducer
from ragstream.contracts import UpsertDocument
from ragstream.kafka import admin_client, create_topics
from ragstream.settings import KafkaSettings, Settings, get_settings
from ragstream.topics import catalogue

Client = Literal["confluent-kafka", "aiokafka"]
CLIENTS: tuple[Client, ...] = get_args(Client)
TEXT = "A document change travels as a command through Kafka before anything indexes it. " * 12


def run(commands: int, batch: int, acks: int) -> dict[str, Any]:
    base = get_settings()
    results = {
        client: asyncio.run(_measure(_settings(base, client), commands, batch, acks)) for client in CLIENTS
    }
    faster = max(CLIENTS, key=lambda c: results[c]["commands_per_s"])
    return {
        "bench": "produce",
        "commands": commands,
        "batch": batch,
        "ack_samples": acks,
        "wire_format": base.codec.wire_format,
        "clients": results,
        "faster": faster,
        "default": base.kafka.producer_client,
    }


def _settings(base: Settings, client: Client) -> Settings:
    prefix = f"bench-produce-{client}-{uuid.uuid4().hex[:8]}"
    kafka = base.kafka.model_copy(update={"topic_prefix": prefix, "producer_client": client})
    return base.model_copy(update={"kafka": kafka})


def _commands(count: int, tag: str) -> list[UpsertDocument]:
    return [
        UpsertDocument(
            tenant="bench", document_id=f"{tag}/{n}", actor="bench", title=f"Doc {n}", content=f"{TEXT} {n}"
        )
        for n in range(count)
    ]


async def _measure(settings: Settings, commands: int, batch: int, acks: int) -> dict[str, Any]:
    topic = catalogue(settings.kafka.topic_prefix).commands
    await create_topics(settings.kafka, [topic])
    try:
        async with CommandProducer(settings) as producer:
            await producer.send_many(_commands(20, "warm"))  # connections, metadata, schema ids
            load = _commands(commands, "load")
            started = time.perf_counter()
            for i in range(0, len(load), batch):
                await producer.send_many(load[i : i + batch])
            wall = time.perf_counter() - started
            latencies = []
            for command in _commands(acks, "ack"):
                sent = time.perf_counter()
                await producer.send(command)
                latencies.append(time.perf_counter() - sent)
        summary = latency_summary(latencies, sum(latencies))
        return {
            "commands_per_s": round(commands / wall, 1),
            "ack_p50_ms": summary["p50_ms"],
            "ack_p99_ms": summary["p99_ms"],
        }
    finally:
        await _delete(settings.kafka, topic.name)


async def _delete(kafka: KafkaSettings, name: str) -> None:
    async with admin_client(kafka) as admin:
        await admin.delete_topics([name])
