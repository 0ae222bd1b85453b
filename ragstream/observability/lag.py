"""Consumer-group lag from the broker's view: committed offsets against end offsets.

Computed from the group's committed offsets rather than a worker's in-memory positions, so any one
worker (or `ragstream status`, with no worker running) sees the lag of the whole group, including
partitions whose owner has died. Aggregate the worker gauges with `max by (group, topic, partition)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from aiokafka import AIOKafkaConsumer, TopicPartition

from ragstream.kafka import admin_client, security_options, topic_partitions
from ragstream.observability.metrics import CONSUMER_LAG, GROUP_MEMBERS, record_error
from ragstream.settings import KafkaSettings

log = logging.getLogger("ragstream.observability.lag")
# Gaps up to this many offsets are read to count records exactly (see group_lag).
EXACT_BELOW = 100


@dataclass(frozen=True)
class PartitionOffsets:
    topic: str
    partition: int
    beginning: int
    end: int

    @property
    def records(self) -> int:
        return self.end - self.beginning


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int
    # Where a group without a commit starts (it reads from the earliest record).
    beginning: int = 0
    # Records counted between the commit and the end, when they were read (transaction markers
    # take offsets too); None means the offset difference stands.
    records: int | None = None

    @property
    def lag(self) -> int:
        if self.records is not None:
            return self.records
        start = self.committed if self.committed is not None else self.beginning
        return max(0, self.end - start)


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    members: int
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    def by_topic(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.partitions:
            out[p.topic] = out.get(p.topic, 0) + p.lag
        return out


def _consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    # No group: it only asks for offsets, and must not join (and rebalance) the group it measures.
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=f"{kafka.client_id}-lag",
        group_id=None,
        **security_options(kafka),
    )


async def topic_offsets(kafka: KafkaSettings, topics: Sequence[str]) -> list[PartitionOffsets]:
    """First and next offsets of every partition of the topics that exist (missing ones are left out)."""
    if not topics:
        return []
    consumer = _consumer(kafka)
    await consumer.start()
    try:
        # One small metadata request per topic, never creating a missing one: listing the cluster's
        # topics costs as much as the cluster holds (ragstream.kafka.topic_partitions), and the
        # workers run this on their event loop every lag interval.
        tps = [TopicPartition(t, p) for t in sorted(set(topics)) for p in await topic_partitions(consumer, t)]
        if not tps:
            return []
        first = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return [PartitionOffsets(tp.topic, tp.partition, int(first[tp]), int(end[tp])) for tp in tps]


def _describe(response: object) -> tuple[str, int]:
    # DescribeGroupsResponse: groups = [(error_code, group_id, state, protocol_type, protocol, members, ...)]
    groups = getattr(response, "groups", None) or []
    if not groups:
        return "Unknown", 0
    group = groups[0]
    return str(group[2] or "Unknown"), len(group[5] or [])


async def _records_between(
    kafka: KafkaSettings, gaps: dict[TopicPartition, tuple[int, int]], timeout_s: float
) -> dict[TopicPartition, int]:
    """Data records in [start, end) per partition, by reading them (control records are skipped);
    a partition not read to its end in time keeps the plain offset difference."""
    counts = dict.fromkeys(gaps, 0)
    pending = set(gaps)
    consumer = _consumer(kafka)
    await consumer.start()
    try:
        consumer.assign(list(gaps))
        for tp, (start, _) in gaps.items():
            consumer.seek(tp, start)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while pending and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=200, max_records=EXACT_BELOW)
            for tp, records in batches.items():
                counts[tp] += sum(1 for r in records if r.offset < gaps[tp][1])
            for tp in list(pending):
                if await consumer.position(tp) >= gaps[tp][1]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return {tp: (end - start if tp in pending else counts[tp]) for tp, (start, end) in gaps.items()}


async def group_lag(
    kafka: KafkaSettings, group: str, topics: Sequence[str] = (), *, exact_s: float = 3.0
) -> GroupLag:
    """Lag of every partition of `topics` plus every topic the group has committed offsets for."""
    async with admin_client(kafka) as admin:
        committed = await admin.list_consumer_group_offsets(group)
        (described,) = await admin.describe_consumer_groups([group])
    state, members = _describe(described)
    wanted = {*topics, *(tp.topic for tp in committed)}
    offsets = await topic_offsets(kafka, sorted(wanted))
    partitions = []
    for o in offsets:
        meta = committed.get(TopicPartition(o.topic, o.partition))
        at = int(meta.offset) if meta is not None and meta.offset >= 0 else None
        partitions.append(PartitionLag(o.topic, o.partition, at, o.end, o.beginning))
    # Transactional producers (processing_guarantee=exactly_once) end each transaction with a commit
    # marker: it takes an offset but is no record, so an idle group would show a lag of 1 forever on
    # every partition it wrote. Small gaps are counted by reading them; large ones stay as they are.
    gaps = {
        TopicPartition(p.topic, p.partition): (p.end - p.lag, p.end)
        for p in partitions
        if 0 < p.lag <= EXACT_BELOW
    }
    if gaps:
        counted = await _records_between(kafka, gaps, exact_s)
        partitions = [
            replace(p, records=counted.get(TopicPartition(p.topic, p.partition))) for p in partitions
        ]
    return GroupLag(group, state, members, partitions)


class LagMonitor:
    """Refreshes the lag gauges; run `update` periodically (a faust timer in the stream worker)."""

    def __init__(
        self, kafka: KafkaSettings, group: str, topics: Sequence[str], *, timeout_s: float = 15.0
    ) -> None:
        self._kafka = kafka
        self._group = group
        self._topics = tuple(topics)
        self._timeout_s = timeout_s

    async def update(self) -> GroupLag | None:
        try:
            lag = await asyncio.wait_for(group_lag(self._kafka, self._group, self._topics), self._timeout_s)
        except Exception as exc:  # a broker hiccup must never take the worker down with it
            record_error("lag-monitor", exc)
            log.warning("could not read the lag of consumer group %s: %r", self._group, exc)
            return None
        GROUP_MEMBERS.labels(self._group).set(lag.members)
        for p in lag.partitions:
            CONSUMER_LAG.labels(self._group, p.topic, str(p.partition)).set(p.lag)
        return lag
