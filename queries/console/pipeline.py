"""What the console's Pipeline page shows: the stream workers' lag per stage, the newest dead letters
of the caller's tenant with their reasons, and this node's freshness histogram.

Lag and freshness are read from the broker and this process's metrics, so they need no worker
running; dead letters are read from the tail of the dead-letter topic (bounded, newest first)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from ragstream.codec import AvroSingleObjectCodec, CodecError
from ragstream.kafka import make_consumer
from ragstream.observability.lag import group_lag
from ragstream.queries.indexing.feed import FRESHNESS
from ragstream.queries.notifications.notices import from_dead_letter
from ragstream.records import LogRecord
from ragstream.settings import Settings
from ragstream.topics import catalogue

KAFKA_TIMEOUT_S = 10.0
# How far back each dead-letter partition is read, and how many letters are shown.
SCAN_PER_PARTITION = 500
SHOWN = 50


@dataclass(frozen=True)
class StageLag:
    stage: str
    topic: str
    lag: int


@dataclass(frozen=True)
class DeadLetter:
    document_id: str
    tenant: str
    processor: str
    error_type: str
    reason: str
    source: str
    position: str


@dataclass(frozen=True)
class Bucket:
    le: float | None  # upper bound in seconds; None for the last (+Inf: JSON has no infinity)
    count: int  # observations in this bucket alone (not cumulative)


@dataclass
class PipelineView:
    group: str
    group_state: str = ""
    members: int = 0
    stages: list[StageLag] = field(default_factory=list)
    lag_error: str | None = None
    dead_letters: list[DeadLetter] = field(default_factory=list)
    dead_letters_error: str | None = None
    freshness: dict[str, list[Bucket]] = field(default_factory=dict)


def _stages(settings: Settings) -> list[tuple[str, str]]:
    topics = catalogue(settings.kafka.topic_prefix)
    return [
        ("validate", topics.commands.name),
        ("chunk + registry", topics.events.name),
        ("embed", topics.chunks.name),
        ("embed (bulk lane)", topics.bulk_chunks.name),
    ]


async def _lag(settings: Settings, view: PipelineView) -> None:
    stages = _stages(settings)
    try:
        lag = await asyncio.wait_for(
            group_lag(settings.kafka, view.group, [t for _, t in stages]), KAFKA_TIMEOUT_S
        )
    except Exception as exc:  # the page says why, rather than failing whole
        view.lag_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return
    by_topic = lag.by_topic()
    view.group_state, view.members = lag.state, lag.members
    view.stages = [StageLag(stage, topic, by_topic.get(topic, 0)) for stage, topic in stages]


def _letter(codec: AvroSingleObjectCodec, msg: ConsumerRecord[bytes, bytes]) -> DeadLetter | None:
    try:
        decoded = codec.decode(msg.value or b"")
        name, record = decoded.name, decoded.record
    except CodecError:
        name, record = "", {}  # the letter may hold the very record that failed to decode
    headers = {k: v for k, v in msg.headers or ()}
    rec = LogRecord(name, record, msg.topic, msg.partition, msg.offset, key=msg.key, headers=headers)
    notice = from_dead_letter(rec)
    if notice is None:
        return None
    data = notice.data
    return DeadLetter(
        document_id=str(data["document_id"]), tenant=notice.tenant, processor=str(data["processor"]),
        error_type=str(data["error_type"]), reason=str(data["reason"]), source=str(data["source"]),
        position=rec.position,
    )  # fmt: skip


async def _tail(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = make_consumer(settings.kafka, group_id=None, role="console-dead-letters")
    await consumer.start()
    try:
        partitions = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begins[tp], ends[tp] - SCAN_PER_PARTITION))
        out: list[ConsumerRecord[bytes, bytes]] = []
        pending = {tp for tp in tps if ends[tp] > begins[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for msgs in batches.values():
                out.extend(msgs)
            # Positions, not the last offset read: transaction markers take offsets too.
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return out
    finally:
        await consumer.stop()


async def _dead_letters(
    settings: Settings, codec: AvroSingleObjectCodec, tenant: str, view: PipelineView
) -> None:
    topic = catalogue(settings.kafka.topic_prefix).dlq.name
    try:
        messages = await asyncio.wait_for(_tail(settings, topic), KAFKA_TIMEOUT_S)
    except Exception as exc:
        view.dead_letters_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return
    messages.sort(key=lambda m: m.timestamp, reverse=True)
    for msg in messages:
        letter = _letter(codec, msg)
        if letter is not None and letter.tenant == tenant:
            view.dead_letters.append(letter)
            if len(view.dead_letters) >= SHOWN:
                break


def freshness() -> dict[str, list[Bucket]]:
    """This node's freshness histogram per read model, as counts per bucket."""
    cumulative: dict[str, list[tuple[float, float]]] = {}
    for metric in FRESHNESS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                cumulative.setdefault(sample.labels["read_model"], []).append((le, sample.value))
    out: dict[str, list[Bucket]] = {}
    for read_model, points in cumulative.items():
        points.sort()
        below = 0.0
        out[read_model] = []
        for le, total in points:
            out[read_model].append(Bucket(le if le != float("inf") else None, int(total - below)))
            below = total
    return out


async def collect(settings: Settings, codec: AvroSingleObjectCodec, tenant: str) -> PipelineView:
    """`tenant`: whose dead letters to show."""
    view = PipelineView(group=settings.streams.app_id)
    await asyncio.gather(_lag(settings, view), _dead_letters(settings, codec, tenant, view))
    view.freshness = freshness()
    return view
