"""The faust-streaming application: commands -> document events -> chunks -> embeddings, plus the
registry/audit projection into PostgreSQL.

Every processor consumes one topic and produces the next, keyed by `tenant/document_id`, so one
document's changes stay ordered end to end. Records that cannot be decoded or processed go to the
dead-letter topic with the error and origin in headers; the partition keeps flowing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import faust
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from ragstream.codec import CodecError, load_codec
from ragstream.kafka import faust_credentials
from ragstream.observability.lag import LagMonitor
from ragstream.observability.metrics import observe_processing
from ragstream.observability.settings import ObservabilitySettings
from ragstream.observability.tracing import bind_message, propagated_headers
from ragstream.settings import Settings
from ragstream.streams.batching import event_batches, owned_by, owned_events
from ragstream.streams.cdc import load_mappings, mapping_paths
from ragstream.streams.cdc.processor import register_cdc
from ragstream.streams.dlq import send_dead_letter
from ragstream.streams.embedding import Embedder, load_embedder
from ragstream.streams.faust_fixes import disable_read_offset_tracking, rewind_uncommitted_partitions
from ragstream.streams.readmodels.shared import shared_read_models
from ragstream.streams.registry import RegistryStore
from ragstream.streams.sequencing import audit_sequencers, faust_sequencer
from ragstream.streams.shared_projection import register_shared_projection
from ragstream.streams.stages import PASS_THROUGH, ChunkingPolicy, EmbeddingStage, chunk_upserted
from ragstream.streams.versioning import COMMAND_NAMES, decide
from ragstream.topics import catalogue, document_key

log = logging.getLogger("ragstream.streams")

COMMANDS = Counter("ragstream_commands_total", "Commands processed by outcome", ["outcome"])
PROCESSED = Counter("ragstream_processed_total", "Records processed per processor", ["processor"])


class InvalidRecord(Exception):
    """A record that decodes but breaks a contract rule (wrong key, wrong record type)."""


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> faust.App:
    topics = catalogue(settings.kafka.topic_prefix)
    codec = load_codec(settings.codec.schemas_dir)
    chunking = ChunkingPolicy(settings.chunking)
    settings.streams.data_dir.mkdir(parents=True, exist_ok=True)
    own_topics = [topics.commands.name, topics.events.name, topics.chunks.name, topics.embeddings.name]
    rewind_uncommitted_partitions(own_topics)
    if settings.streams.processing_guarantee == "at_least_once":
        disable_read_offset_tracking(own_topics)
    app = faust.App(
        settings.streams.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings.kafka),
        store="memory://",
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        processing_guarantee=settings.streams.processing_guarantee,
        datadir=str(settings.streams.data_dir / settings.streams.app_id),
        web_bind=settings.streams.web_host,
        web_host=settings.streams.web_host,
        web_port=settings.streams.web_port,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=settings.kafka.max_message_bytes,
        consumer_max_fetch_size=settings.kafka.max_message_bytes,
        stream_wait_empty=False,
        broker_commit_every=100,
        # A crashed worker's partitions move to the others within seconds, not minutes.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=30.0,
        broker_commit_interval=1.0,
    )

    owns = owned_by(app)

    commands_topic = _raw_topic(app, topics.commands.name)
    events_topic = _raw_topic(app, topics.events.name)
    chunks_topic = _raw_topic(app, topics.chunks.name)
    embeddings_topic = _raw_topic(app, topics.embeddings.name)
    dlq_topic = _raw_topic(app, topics.dlq.name)
    document_state = app.Table("document_state", default=None, key_type=str)

    # Loaded before the worker starts, so no agent blocks on it mid-rebalance.
    model: Embedder = embedder if embedder is not None else load_embedder(settings.embedding)
    resources: dict[str, Any] = {}
    lock = asyncio.Lock()

    async def store() -> RegistryStore:
        async with lock:
            if "store" not in resources:
                resources["store"] = await RegistryStore.connect(settings.postgres)
            return resources["store"]  # type: ignore[no-any-return]

    async def stage() -> EmbeddingStage:
        registry = await store()
        async with lock:
            if "stage" not in resources:
                resources["stage"] = EmbeddingStage(model, registry)
            return resources["stage"]  # type: ignore[no-any-return]

    async def dead_letter(event: Any, processor: str, error: BaseException) -> None:
        msg = event.message
        log.warning(
            "dead-lettering %s/%s/%s from %s: %s", msg.topic, msg.partition, msg.offset, processor, error
        )
        await send_dead_letter(
            dlq_topic, key=msg.key, value=msg.value, processor=processor, error=error,
            topic=msg.topic, partition=msg.partition, offset=msg.offset,
        )  # fmt: skip

    async def deliver(topic: Any, key: bytes, value: bytes) -> None:
        # Wait for the broker's ack: the input offset is committed only after its output is durable,
        # so a worker killed mid-batch leaves its input to be processed again, never lost.
        pending = await topic.send(key=key, value=value, headers=propagated_headers())
        await pending

    def decode(event: Any, allowed: frozenset[str]) -> tuple[str, dict[str, Any]]:
        decoded = codec.decode(event.value)
        if decoded.name not in allowed:
            raise InvalidRecord(f"{decoded.name} does not belong on {event.message.topic}")
        return decoded.name, decoded.record

    @app.agent(commands_topic)
    async def validate_commands(stream: Any) -> None:
        sequencer = faust_sequencer(app, "validate_commands", [topics.commands.name])
        async for event in owned_events(stream, owns=owns, sequencer=sequencer):
            msg = event.message
            started = time.perf_counter()
            bind_message(msg)
            try:
                name, cmd = decode(event, COMMAND_NAMES)
                key = document_key(cmd["tenant"], cmd["document_id"])
                if msg.key != key:
                    raise InvalidRecord(
                        f"record key {msg.key!r} must be {key!r} so the document stays ordered"
                    )
                state_key = key.decode()
                decision = decide(
                    name, cmd, document_state.get(state_key),
                    position=f"{msg.topic}/{msg.partition}/{msg.offset}", now=datetime.now(UTC),
                )  # fmt: skip
                await deliver(events_topic, key, codec.encode(decision.event_name, decision.event))
                # The table (and its changelog) moves only once the event is durable. The other order
                # lost updates: a worker killed between its changelog write and its event left the
                # new owner a state saying "applied" for a command whose event never reached the log,
                # so the redelivered command was rejected as a duplicate.
                if decision.state is not None:
                    document_state[state_key] = decision.state
                COMMANDS.labels("accepted" if decision.accepted else "rejected").inc()
                PROCESSED.labels("validate_commands").inc()
                observe_processing("validate_commands", started)
            except (CodecError, InvalidRecord, KeyError, ValueError, TypeError) as exc:
                await dead_letter(event, "validate_commands", exc)

    @app.agent(events_topic)
    async def chunk_documents(stream: Any) -> None:
        allowed = frozenset({"DocumentUpserted"}) | PASS_THROUGH
        sequencer = faust_sequencer(app, "chunk_documents", [topics.events.name])
        async for event in owned_events(stream, owns=owns, sequencer=sequencer):
            started = time.perf_counter()
            bind_message(event.message)
            try:
                name, record = decode(event, allowed)
                if name == "DocumentUpserted":
                    chunked = chunk_upserted(
                        record, chunking.for_document(record["tenant"], record["metadata"])
                    )
                    await deliver(chunks_topic, event.message.key, codec.encode("DocumentChunked", chunked))
                elif name in PASS_THROUGH:
                    await deliver(chunks_topic, event.message.key, event.value)
                PROCESSED.labels("chunk_documents").inc()
                observe_processing("chunk_documents", started)
            except Exception as exc:  # one bad document must not stall its partition
                await dead_letter(event, "chunk_documents", exc)

    @app.agent(chunks_topic)
    async def embed_chunks(stream: Any) -> None:
        allowed = frozenset({"DocumentChunked"}) | PASS_THROUGH
        batches = event_batches(
            stream, settings.embedding.batch_size, settings.embedding.batch_wait_s,
            is_current=owns, sequencer=faust_sequencer(app, "embed_chunks", [topics.chunks.name]),
        )  # fmt: skip
        async for events in batches:
            started = time.perf_counter()
            decoded: list[tuple[Any, str, dict[str, Any]]] = []
            for event in events:
                bind_message(event.message)
                try:
                    decoded.append((event, *decode(event, allowed)))
                except Exception as exc:
                    await dead_letter(event, "embed_chunks", exc)
            to_embed = [record for _, name, record in decoded if name == "DocumentChunked"]
            embedded = iter(await (await stage()).embed(to_embed) if to_embed else [])
            # Output keeps input order, so per-document ordering survives batching.
            pending = []
            for event, name, _ in decoded:
                bind_message(event.message)  # each output carries its own input's trace
                value = (
                    codec.encode("DocumentEmbedded", next(embedded))
                    if name == "DocumentChunked"
                    else event.value
                )
                pending.append(
                    await embeddings_topic.send(
                        key=event.message.key, value=value, headers=propagated_headers()
                    )
                )
            # The batch is acked (and its offsets become committable) only once its output is durable.
            await asyncio.gather(*pending)
            PROCESSED.labels("embed_chunks").inc(len(decoded))
            observe_processing("embed_chunks", started)

    @app.agent(events_topic)
    async def record_registry(stream: Any) -> None:
        allowed = frozenset({"DocumentUpserted"}) | PASS_THROUGH
        sequencer = faust_sequencer(app, "record_registry", [topics.events.name])
        async for event in owned_events(stream, owns=owns, sequencer=sequencer):
            msg = event.message
            started = time.perf_counter()
            bind_message(msg)
            try:
                name, record = decode(event, allowed)
            except CodecError as exc:
                await dead_letter(event, "record_registry", exc)
                continue
            try:
                await (await store()).apply_event(
                    name,
                    record,
                    projection="registry",
                    topic=msg.topic,
                    partition=msg.partition,
                    offset=msg.offset,
                )
            except asyncpg.DataError as exc:  # e.g. NUL in a title from a direct producer
                await dead_letter(event, "record_registry", exc)
                continue
            PROCESSED.labels("record_registry").inc()
            observe_processing("record_registry", started)

    register_shared_projection(
        app,
        settings,
        embeddings_topic,
        codec,
        dimension=model.dimension,
        store=store,
        dead_letter=dead_letter,
    )

    # Every worker reports the whole group's lag from the broker, so a dead worker's partitions show.
    consumed = [topics.commands.name, topics.events.name, topics.chunks.name]
    if shared_read_models(settings):
        consumed.append(topics.embeddings.name)
    lag_monitor = LagMonitor(settings.kafka, settings.streams.app_id, consumed)

    @app.timer(interval=ObservabilitySettings().lag_interval_s)  # type: ignore[untyped-decorator]
    async def report_consumer_lag() -> None:
        await lag_monitor.update()

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # As a header: aiohttp refuses a content_type argument with a charset, which this one has.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    async def _ping() -> bool:
        return await (await store()).ping()

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        # Not ready while partitions are being reassigned or the registry database is unreachable;
        # /health stays green meanwhile, so a liveness probe does not restart a worker for it.
        problems = []
        if app.rebalancing:
            problems.append("rebalancing")
        try:
            reachable = await asyncio.wait_for(_ping(), timeout=3)
        except TimeoutError:
            reachable = False
        if not reachable:
            problems.append("postgres unreachable")
        body = {"status": "not ready" if problems else "ready", "problems": problems}
        return web.json(body, status=503 if problems else 200)

    register_cdc(app, settings, load_mappings(mapping_paths(settings)))
    audit_sequencers(app)
    return app
