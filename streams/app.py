"""The stream worker: commands -> document events -> chunks -> embeddings, plus whatever read-side
projections the composition root hands it (ragstream.projections).

Every processor consumes one topic and produces the next, keyed by `tenant/document_id`, so one
document's changes stay ordered end to end. Records that cannot be decoded or processed go to the
dead-letter topic with the error and origin in headers; the partition keeps flowing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust

from ragstream.blobs import open_blob_store
from ragstream.codec import CodecError, load_codec
from ragstream.embedding import Embedder, load_embedder
from ragstream.observability.metrics import observe_processing
from ragstream.observability.tracing import bind_message, propagated_headers
from ragstream.projections import Projection
from ragstream.settings import Settings
from ragstream.streams.admission import contract_violation, oversize, storable, unembeddable
from ragstream.streams.cdc import load_mappings
from ragstream.streams.cdc.processor import cdc_topics, register_cdc
from ragstream.streams.delivery import event_batches, faust_sequencer, owned_by, written_from
from ragstream.streams.delivery.publish import publish
from ragstream.streams.delivery.settling import RECORD_REFUSALS, DocumentSends, Sent, delivered
from ragstream.streams.dlq import send_dead_letter
from ragstream.streams.documents.formats import ExtractionFailed
from ragstream.streams.documents.stage import ExtractionStage, is_binary
from ragstream.streams.embedding_cache import CacheScopes, EmbeddingCache
from ragstream.streams.generations import GenerationFollower
from ragstream.streams.lanes import (
    ModelTurns,
    carried,
    event_lanes,
    interactive_first,
    lane_headers,
    lanes_of,
    passages_per_call,
    with_content_lane,
)
from ragstream.streams.metrics import COMMANDS, PROCESSED
from ragstream.streams.projections import register_projections
from ragstream.streams.stages import (
    PASS_THROUGH,
    ChunkingPolicy,
    EmbeddingStage,
    budget_tokenizer,
    chunk_upserted,
)
from ragstream.streams.versioning import COMMAND_NAMES, Decision, decide, rejected
from ragstream.streams.worker import raw_topic, worker_app
from ragstream.topics import Lane, catalogue, document_key, header_lane

log = logging.getLogger("ragstream.streams")


# What the chunk stage reads: upserts to chunk, and the events it passes on unchanged.
CHUNKED_INPUTS = frozenset({"DocumentUpserted"}) | PASS_THROUGH
# An input, the broker's pending ack of its output, and how to send that output again.
Output = tuple[Any, Awaitable[Any], Callable[[], Awaitable[Awaitable[Any]]]]


class InvalidRecord(Exception):
    """A record that decodes but breaks a contract rule (wrong key, wrong record type)."""


def create_app(
    settings: Settings, *, embedder: Embedder | None = None, projections: Sequence[Projection] = ()
) -> faust.App:
    topics = catalogue(settings.kafka.topic_prefix)
    codec = load_codec(settings.codec)
    chunking = ChunkingPolicy(settings.chunking, budget_tokenizer(settings.chunking, settings.embedding))
    extraction = ExtractionStage(settings.blobs, open_blob_store(settings.blobs))
    mappings = load_mappings(settings.cdc.mappings)
    pipeline = [
        topics.commands.name, topics.events.name, topics.chunks.name, topics.bulk_chunks.name,
        topics.embeddings.name,
    ]  # fmt: skip
    consumed = [topics.commands.name, topics.events.name, topics.chunks.name, topics.bulk_chunks.name]
    consumed += sorted({p.topic for p in projections} - set(consumed))
    # Loaded before the worker starts, so no agent blocks on it mid-rebalance.
    model: Embedder = embedder if embedder is not None else load_embedder(settings.embedding, "passages")
    resources: dict[str, Any] = {}
    lock = asyncio.Lock()
    scopes = CacheScopes(settings.embedding.cache_shared_tenants)

    async def cache() -> EmbeddingCache:
        async with lock:
            if "cache" not in resources:
                resources["cache"] = await EmbeddingCache.connect(settings.postgres)
            return resources["cache"]  # type: ignore[no-any-return]

    async def stage() -> EmbeddingStage:
        if "stage" not in resources:
            resources["stage"] = EmbeddingStage(model, await cache(), scopes)
        return resources["stage"]  # type: ignore[no-any-return]

    async def cache_reachable() -> bool:
        return await (await cache()).ping()

    # The projections' topics (the dead-letter topic too, for notifications) are as contiguous as the
    # pipeline's and read through the same sequencer, so they get the same delivery fixes.
    sequenced = [*pipeline, *sorted({p.topic for p in projections} - set(pipeline))]
    app = worker_app(
        settings, settings.streams.app_id, sequenced_topics=sequenced,
        lag_topics=[*consumed, *cdc_topics(settings, mappings)],
        ready_checks=[("postgres", cache_reachable), *((p.name, p.ready) for p in projections)],
    )  # fmt: skip
    owns = owned_by(app)

    commands_topic = raw_topic(app, topics.commands.name)
    events_topic = raw_topic(app, topics.events.name)
    chunks_topics = {lane: raw_topic(app, topics.chunks_of(lane).name) for lane in Lane}
    embeddings_topic = raw_topic(app, topics.embeddings.name)
    dlq_topic = raw_topic(app, topics.dlq.name)
    document_state = app.Table("document_state", default=None, key_type=str)
    limit = settings.kafka.max_message_bytes

    async def dead_letter(event: Any, processor: str, error: BaseException) -> None:
        msg = event.message
        log.warning(
            "dead-lettering %s/%s/%s from %s: %s", msg.topic, msg.partition, msg.offset, processor, error
        )
        await send_dead_letter(
            dlq_topic, key=msg.key, value=msg.value, processor=processor, error=error,
            topic=msg.topic, partition=msg.partition, offset=msg.offset,
        )  # fmt: skip

    async def settle_outputs(outputs: list[Output], processor: str) -> int:
        """Wait until each input's output is durable; an output the broker refuses for good (over
        its topic's own limit, which an operator may set below the worker's) dead-letters its input
        rather than failing the batch on every redelivery. Any other error (a timeout, a lost
        leader) raises: the batch stays unacked and is processed again. Returns how many went."""
        durable = 0
        for event, ack, resend in outputs:
            try:
                await delivered(ack, resend)
            except RECORD_REFUSALS as refusal:
                bind_message(event.message)
                await dead_letter(event, processor, refusal)
            else:
                durable += 1
        return durable

    def decode(event: Any, allowed: frozenset[str]) -> tuple[str, dict[str, Any]]:
        decoded = codec.decode(event.value)
        if decoded.name not in allowed:
            raise InvalidRecord(f"{decoded.name} does not belong on {event.message.topic}")
        return decoded.name, decoded.record

    async def send(
        topic: Any, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        """Send one output with the trace of the input it came from (its headers first); returns
        the broker's pending ack, for the caller to await with the rest of its batch."""
        return await publish(topic, key=key, value=value, headers=[*propagated_headers(), *headers])

    @app.agent(commands_topic)
    async def validate_commands(stream: Any) -> None:
        # Commands are taken in batches of what has already arrived (never waiting for more, so a
        # lone edit goes at once): each command's event is sent as soon as it is decided, and the
        # batch waits for the broker's acks once. Waiting for each ack in turn cost ~14 ms per
        # command on a busy machine, so an edit behind a bulk import's commands waited for all of
        # them (BENCHMARKS.md, "freshness under a bulk import").
        batches = event_batches(
            stream, settings.streams.records_per_batch, is_current=owns,
            sequencer=faust_sequencer(app, "validate_commands", [topics.commands.name]),
        )  # fmt: skip
        async for events in batches:
            started = time.perf_counter()
            # The batch's new document states: a later command of the same document decides on
            # them, since the table moves only once the batch's events are durable.
            decided: dict[str, tuple[Any, dict[str, Any]]] = {}
            sends = DocumentSends()
            for event in events:
                # The document's previous event in this batch is durable (or refused, and its state
                # put back) before this command is decided on it (streams.delivery.settling).
                await sends.settle(event.message.key)
                try:
                    sends.track(event.message.key, await validate_command(event, decided))
                except (CodecError, InvalidRecord, KeyError, ValueError, TypeError) as exc:
                    await dead_letter(event, "validate_commands", exc)
            await sends.settle_all()
            # The table (and its changelog) moves only once the events are durable. The other order
            # lost updates: a worker killed between its changelog write and its event left the
            # new owner a state saying "applied" for a command whose event never reached the log,
            # so the redelivered command was rejected as a duplicate.
            for state_key, (source, state) in decided.items():
                with written_from(source):  # the changelog partition is the command's
                    document_state[state_key] = state
            for ok in sends.outcomes:
                COMMANDS.labels("accepted" if ok else "rejected").inc()
                PROCESSED.labels("validate_commands").inc()
                observe_processing("validate_commands", started)

    async def decided_command(
        name: str, cmd: dict[str, Any], current: dict[str, Any] | None, position: str
    ) -> Decision:
        """The versioning decision on a command held to its contract (streams/admission.py)."""
        now = datetime.now(UTC)
        violation = contract_violation(name, cmd)
        if violation is not None:
            reason = f"invalid: {violation}"
            return rejected(name, storable(cmd), current, reason, position=position, now=now)
        try:
            # Extraction: a binary document becomes text here, before the versioning decision,
            # so a file that cannot be read is a rejected command and its partition moves on.
            if name == "UpsertDocument" and is_binary(cmd):
                cmd = await extraction.extract(cmd)
            return decide(name, cmd, current, position=position, now=now)
        except ExtractionFailed as exc:
            return rejected(name, cmd, current, f"unreadable: {exc}", position=position, now=now)

    async def validate_command(event: Any, decided: dict[str, tuple[Any, dict[str, Any]]]) -> Sent:
        """Decide one command and send its event; returns the send, to be settled. `decided` holds
        the batch's states so far (each with the command it came from) and gets this command's."""
        msg = event.message
        bind_message(msg)
        name, cmd = decode(event, COMMAND_NAMES)
        key = document_key(cmd["tenant"], cmd["document_id"])
        if msg.key != key:
            raise InvalidRecord(f"record key {msg.key!r} must be {key!r} so the document stays ordered")
        state_key = key.decode()
        current = decided[state_key][1] if state_key in decided else document_state.get(state_key)
        position = f"{msg.topic}/{msg.partition}/{msg.offset}"
        decision = await decided_command(name, cmd, current, position)
        lane, route = event_lanes(name, header_lane(msg.headers), current)
        state = None if decision.state is None else with_content_lane(name, decision.state, route)
        value = codec.encode(decision.event_name, decision.event)
        if excess := oversize(f"{decision.event_name} event", key, value, limit):
            # Rejected rather than dead-lettered: the reason lands in the document's history.
            decision = rejected(
                name, cmd, current, f"too large: {excess}", position=position, now=datetime.now(UTC)
            )
            state, value = None, codec.encode(decision.event_name, decision.event)
            if excess := oversize("rejection", key, value, limit):  # its own fields are that large
                raise InvalidRecord(excess)
        headers = lane_headers(lane, route)
        pending = await send(events_topic, key, value, headers)
        prior = decided.get(state_key)
        if state is not None:
            decided[state_key] = (event, state)

        async def refused(error: BaseException) -> bool:
            # The event is not in the log, so the document is as it was before this command, and
            # the command is rejected with the broker's reason (its history says why).
            if prior is None:
                decided.pop(state_key, None)
            else:
                decided[state_key] = prior
            reason = f"refused by the broker: {type(error).__name__}"
            refusal = rejected(name, cmd, current, reason, position=position, now=datetime.now(UTC))
            try:
                await (
                    await send(events_topic, key, codec.encode(refusal.event_name, refusal.event), headers)
                )
            except RECORD_REFUSALS as exc:
                await dead_letter(event, "validate_commands", exc)
            return False

        return Sent(
            ack=pending, resend=lambda: send(events_topic, key, value, headers), refused=refused,
            accepted=decision.accepted,
        )  # fmt: skip

    @app.agent(events_topic)
    async def chunk_documents(stream: Any) -> None:
        # Batched as the commands are (see validate_commands): each event's output is sent when
        # it is ready, and the batch waits for the acks once. A batch chunks its edits first: an
        # edit that arrived behind an import's documents waits for the batch in progress, not also
        # for the documents ahead of it in its own batch (only a batch, its offsets already
        # admitted in order, may be reordered; see streams.delivery.sequencing).
        batches = event_batches(
            stream, settings.streams.records_per_batch, is_current=owns,
            sequencer=faust_sequencer(app, "chunk_documents", [topics.events.name]),
        )  # fmt: skip
        async for events in batches:
            started = time.perf_counter()
            sent: list[Output] = []
            laned = [(event, lanes_of(event.message.headers)) for event in events]
            for event, (lane, route) in interactive_first(laned, lambda item: item[1][1]):
                bind_message(event.message)
                try:
                    rechunk = partial(chunk_event, event, lane, route)
                    sent.append((event, await rechunk(), rechunk))
                except Exception as exc:  # one bad document must not stall its partition
                    await dead_letter(event, "chunk_documents", exc)
            durable = await settle_outputs(sent, "chunk_documents")
            PROCESSED.labels("chunk_documents").inc(durable)
            for _ in range(durable):
                observe_processing("chunk_documents", started)

    async def chunk_event(event: Any, lane: Lane, route: Lane) -> asyncio.Future[Any]:
        """Chunk a DocumentUpserted (pass anything else of PASS_THROUGH on) to its route's chunks
        topic, with its lane headers; returns the broker's pending ack."""
        name, record = decode(event, CHUNKED_INPUTS)
        value = event.value
        if name == "DocumentUpserted":
            # Off the event loop: a long document takes tens of milliseconds to chunk, and every
            # other agent of this worker (validating commands, the edit lane's model turns) would
            # wait that long for each (BENCHMARKS.md, under-bulk freshness).
            chunked = await asyncio.to_thread(
                chunk_upserted, record, chunking.for_document(record["tenant"], record["metadata"])
            )
            value = codec.encode("DocumentChunked", chunked)
            chunks = len(chunked["chunks"])
            if excess := unembeddable(event.message.key, value, chunks, model.dimension, limit):
                raise InvalidRecord(excess)  # dead-lettered here, not after minutes of the model
        return await send(chunks_topics[route], event.message.key, value, lane_headers(lane, route))

    turns = ModelTurns()

    async def embed_lane(stream: Any, lane: Lane, name: str) -> None:
        allowed = frozenset({"DocumentChunked"}) | PASS_THROUGH

        def passages(event: Any) -> int:
            # What a document costs the model; an undecodable record costs nothing (it is
            # dead-lettered when its batch is handled).
            try:
                name, record = decode(event, allowed)
            except Exception:
                return 0
            return len(record["chunks"]) if name == "DocumentChunked" else 0

        per_call = passages_per_call(settings.embedding, lane)
        batches = event_batches(
            stream, settings.embedding.batch_size,
            max_weight=per_call, weight=passages,
            is_current=owns, sequencer=faust_sequencer(app, name, [topics.chunks_of(lane).name]),
            on_idle=lambda idle: turns.lane_idle(lane, idle),
        )  # fmt: skip
        async for events in batches:
            started = time.perf_counter()
            decoded: list[tuple[Any, str, dict[str, Any]]] = []
            for event in events:
                bind_message(event.message)
                try:
                    decoded.append((event, *decode(event, allowed)))
                except Exception as exc:
                    await dead_letter(event, name, exc)
            to_embed = [record for _, kind, record in decoded if kind == "DocumentChunked"]
            embedded_records: list[dict[str, Any]] = []
            if to_embed:
                # One model call per turn, each within the lane's cap: a document with more chunks
                # than the cap (it comes alone, see event_batches) is several calls, not one long one.
                embedded_records = await (await stage()).embed(
                    to_embed, per_call=per_call, turn=lambda: turns.turn(lane)
                )
            embedded = iter(embedded_records)
            # Output keeps input order, so per-document ordering survives batching.
            pending: list[Output] = []
            for event, kind, _ in decoded:
                bind_message(event.message)  # each output carries its own input's trace
                value = event.value
                if kind == "DocumentChunked":
                    value = codec.encode("DocumentEmbedded", next(embedded))
                    if excess := oversize("DocumentEmbedded", event.message.key, value, limit):
                        # The chunk stage drops what is surely too large (admission.unembeddable);
                        # what its floor let through by a few bytes a chunk is dead-lettered here,
                        # where sending it would fail the whole batch on every redelivery.
                        await dead_letter(event, name, InvalidRecord(excess))
                        continue
                again = partial(
                    send, embeddings_topic, event.message.key, value, carried(event.message.headers)
                )
                pending.append((event, await again(), again))
            # The batch is acked (and its offsets become committable) only once its output is durable.
            durable = await settle_outputs(pending, name)
            PROCESSED.labels(name).inc(durable)  # a dead letter is counted as one, not as processed
            observe_processing(name, started)

    @app.agent(chunks_topics[Lane.INTERACTIVE])
    async def embed_chunks(stream: Any) -> None:
        await embed_lane(stream, Lane.INTERACTIVE, "embed_chunks")

    @app.agent(chunks_topics[Lane.BULK])
    async def embed_bulk_chunks(stream: Any) -> None:
        await embed_lane(stream, Lane.BULK, "embed_bulk_chunks")

    generations = GenerationFollower(settings, codec, cache)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_embedding_generations() -> None:
        await generations.run()

    register_projections(app, projections, codec=codec, dead_letter=dead_letter)
    register_cdc(app, settings, mappings, dead_letter_topic=dlq_topic)
    return app
