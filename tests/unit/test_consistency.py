"""Consistency tokens: their form, their bounds on the commands topic, and one wake-up path for every
request waiting on positions another process publishes."""

from __future__ import annotations

import asyncio

import pytest

from ragstream.queries.consistency import PositionWatch, out_of_bounds, parse_token
from ragstream.queries.exceptions import InvalidConsistencyToken

pytestmark = pytest.mark.unit


def test_tokens_keep_the_highest_offset_per_partition() -> None:
    assert parse_token("0:5, 1:2,0:9") == {0: 9, 1: 2}


@pytest.mark.parametrize("token", ["-1:5", "0:-3", "0:x", "", "0:1,", ",".join(["0:1"] * 2000), "1e3:2"])
def test_negative_malformed_and_oversized_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidConsistencyToken):
        parse_token(token)


def test_positions_beyond_the_topic_are_named() -> None:
    ends = {0: 10, 1: 0, 2: 5}
    assert out_of_bounds({0: 9, 2: 4}, ends) == []
    assert out_of_bounds({999: 1, 0: 10, 1: 0}, ends) == [
        "offset 10 of partition 0 has not been written",
        "offset 0 of partition 1 has not been written",
        "partition 999 does not exist",
    ]


async def test_many_waiters_share_one_poller() -> None:
    published: dict[int, int] = {0: 1}
    reads = 0

    async def read() -> dict[int, int]:
        nonlocal reads
        reads += 1
        return dict(published)

    watch = PositionWatch(read, interval_s=0.05)
    waiters = [asyncio.create_task(watch.wait_for({0: 5 + i % 3}, timeout=5)) for i in range(200)]
    await asyncio.sleep(0.3)
    polls_while_waiting = watch.polls
    published[0] = 7
    results = await asyncio.gather(*waiters)
    assert results == [{}] * 200
    # One poll every interval for all 200 waiters, not one per waiter.
    assert polls_while_waiting <= 10 and reads < 20
    await asyncio.sleep(0.15)
    idle = reads
    await asyncio.sleep(0.2)
    assert reads == idle  # nobody waits: nobody polls
    assert await watch.wait_for({0: 6}, timeout=0.01) == {}  # already seen: no wait at all
    await watch.close()


async def test_a_waiter_past_its_timeout_learns_what_is_behind() -> None:
    async def read() -> dict[int, int]:
        return {0: 3}

    watch = PositionWatch(read, interval_s=0.01)
    assert await watch.wait_for({0: 9, 2: 1}, timeout=0.1) == {0: (3, 9), 2: (-1, 1)}
    await watch.close()
