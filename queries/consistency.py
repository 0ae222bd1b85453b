"""Consistency tokens: checked against the commands topic before anyone waits, and waited for
through one wake-up path per process.

A token names positions on the commands topic (`partition:offset,...`). One that names a partition
the topic does not have, or an offset not yet written, can never be satisfied: it is refused at
once (400) instead of holding a request for the whole timeout. The topic's end offsets are cached
briefly; a token beyond them makes the node ask the broker again, at most once per
MIN_FETCH_INTERVAL_S however many requests ask, so a flood of bogus tokens costs the broker little.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from ragstream.kafka import make_consumer, topic_partitions
from ragstream.queries.exceptions import InvalidConsistencyToken, TokenCheckUnavailable
from ragstream.settings import KafkaSettings
from ragstream.topics import Lane, key_lane, position_key

log = logging.getLogger("ragstream.queries.consistency")
MIN_FETCH_INTERVAL_S = 0.1
MAX_TOKEN_PARTS = 1024


def parse_token(token: str) -> dict[int, int]:
    """`partition:offset[:bulk][,...]` -> the highest offset per position key (partition and lane,
    ragstream.topics.position_key): a bulk write's part names the bulk lane it waits for."""
    positions: dict[int, int] = {}
    parts = token.split(",")
    try:
        if len(parts) > MAX_TOKEN_PARTS:
            raise ValueError
        for part in parts:
            fields = part.strip().split(":")
            if len(fields) == 3 and fields[2] == Lane.BULK.value:
                lane = Lane.BULK
            elif len(fields) == 2:
                lane = Lane.INTERACTIVE
            else:
                raise ValueError
            partition, offset = int(fields[0]), int(fields[1])
            if partition < 0 or offset < 0:
                raise ValueError
            key = position_key(partition, lane)
            positions[key] = max(positions.get(key, -1), offset)
    except ValueError:
        raise InvalidConsistencyToken(
            f"bad consistency token {token[:64]!r}; expected 'partition:offset' (or 'partition:offset:bulk')"
            " with non-negative numbers"
        ) from None
    return positions


def out_of_bounds(positions: Mapping[int, int], ends: Mapping[int, int]) -> list[str]:
    """What in `positions` (position keys) is not in a topic whose partitions end at `ends` (next
    offset to write)."""
    problems = []
    for key, offset in sorted(positions.items()):
        partition = key_lane(key)[0]
        if partition not in ends:
            problems.append(f"partition {partition} does not exist")
        elif offset >= ends[partition]:
            problems.append(f"offset {offset} of partition {partition} has not been written")
    return problems


class CommandLogBounds:
    """The commands topic's partitions and end offsets, as of a recent fetch."""

    def __init__(self, kafka: KafkaSettings, topic: str, ttl_s: float) -> None:
        self._kafka = kafka
        self._topic = topic
        self._ttl_s = ttl_s
        self._consumer: AIOKafkaConsumer | None = None
        self._ends: dict[int, int] = {}
        self._fetched_at = -float("inf")  # when the last successful fetch *started*
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def start(self) -> None:
        self._consumer = make_consumer(self._kafka, group_id=None, role="token-bounds")
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def check(self, positions: Mapping[int, int]) -> None:
        arrived = time.monotonic()
        ends = await self._ends_since(arrived - self._ttl_s)
        if out_of_bounds(positions, ends):
            # Perhaps written after the cached fetch: only a fetch begun after this request can say.
            ends = await self._ends_since(arrived)
            if problems := out_of_bounds(positions, ends):
                raise InvalidConsistencyToken(
                    "consistency token names positions the commands topic does not have: "
                    + "; ".join(problems)
                )

    async def _ends_since(self, not_before: float) -> dict[int, int]:
        if self._fetched_at >= not_before:
            return self._ends
        async with self._lock:
            if self._fetched_at >= not_before:
                return self._ends  # fetched by another request while this one waited
            await asyncio.sleep(max(0.0, self._fetched_at + MIN_FETCH_INTERVAL_S - time.monotonic()))
            started = time.monotonic()
            try:
                self._ends = await self._fetch()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("could not read the end offsets of %s: %s", self._topic, exc)
                raise TokenCheckUnavailable("the consistency token cannot be checked right now") from exc
            self._fetched_at = started
            self.fetches += 1
            return self._ends

    async def _fetch(self) -> dict[int, int]:
        assert self._consumer is not None, "start() first"
        partitions = await topic_partitions(self._consumer, self._topic)
        tps = [TopicPartition(self._topic, p) for p in partitions]
        ends = await asyncio.wait_for(self._consumer.end_offsets(tps), 10) if tps else {}
        return {tp.partition: int(offset) for tp, offset in ends.items()}


class PositionWatch:
    """Command positions some other process publishes (the stream workers, in PostgreSQL), watched
    for waiting requests: one task per process polls them while anyone waits and wakes every waiter
    through one condition, however many wait."""

    def __init__(self, read: Callable[[], Awaitable[Mapping[int, int]]], interval_s: float = 0.05) -> None:
        self._read = read
        self._interval_s = interval_s
        self.positions: dict[int, int] = {}
        self._changed = asyncio.Condition()
        self._waiters = 0
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    def behind(self, needed: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        return {p: (self.positions.get(p, -1), o) for p, o in needed.items() if self.positions.get(p, -1) < o}

    async def wait_for(self, needed: Mapping[int, int], timeout: float) -> dict[int, tuple[int, int]]:
        """{} once every position is reached, else what is still behind when `timeout` ends."""
        if not self.behind(needed):
            return {}
        self._waiters += 1
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name="position-watch")
        try:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: not self.behind(needed)), timeout)
        finally:
            self._waiters -= 1
        return self.behind(needed)

    async def _poll(self) -> None:
        while self._waiters > 0:
            try:
                read = await self._read()
                self.polls += 1
            except Exception as exc:  # the waiters time out; the watch keeps trying
                log.warning("could not read the published command positions: %s", exc)
                read = {}
            for partition, offset in read.items():
                # Never backwards: a lagging replica of the data must not undo what was seen.
                self.positions[partition] = max(self.positions.get(partition, -1), offset)
            async with self._changed:
                self._changed.notify_all()
            await asyncio.sleep(self._interval_s)
        # No await between the check above and this: a new waiter either kept the loop going or
        # finds no task and starts one.
        self._task = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
