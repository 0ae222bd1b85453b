"""The offset sequencer: events of a partition pass in offset order; a hole makes it seek back."""

from __future__ import annotations

import pytest

from streams.sequencing import OffsetSequencer

pytestmark = pytest.mark.unit
TP = ("commands", 3)


class Consumer:
    def __init__(self, committed: int | None) -> None:
        self.committed = committed
        self.generation = 1
        self.seeks: list[tuple[object, int]] = []
        self.now = 0.0

    async def seek(self, tp: object, offset: int) -> None:
        self.seeks.append((tp, offset))

    def sequencer(self) -> OffsetSequencer:
        return OffsetSequencer(
            "validate_commands", generation=lambda: self.generation,
            committed=lambda tp: self.committed, rewind=self.seek, clock=lambda: self.now,
        )  # fmt: skip


async def verdicts(sequencer: OffsetSequencer, offsets: list[int]) -> list[str]:
    return [(await sequencer.admit(TP, o)).value for o in offsets]


async def test_consecutive_offsets_from_the_committed_one_pass() -> None:
    consumer = Consumer(committed=3)
    assert await verdicts(consumer.sequencer(), [3, 4, 5]) == ["process"] * 3
    assert consumer.seeks == []


async def test_a_skipped_message_is_fetched_again_before_anything_after_it() -> None:
    consumer = Consumer(committed=3)
    sequencer = consumer.sequencer()
    # 4 went missing: 5 and 6 must wait; the partition is sought back to 4 once.
    assert await verdicts(sequencer, [3, 5, 6]) == ["process", "drop", "drop"]
    assert consumer.seeks == [(TP, 4)]
    assert await verdicts(sequencer, [4, 5, 6]) == ["process"] * 3


async def test_a_hole_right_after_the_committed_offset_is_caught_too() -> None:
    consumer = Consumer(committed=3)
    assert await verdicts(consumer.sequencer(), [7]) == ["drop"]
    assert consumer.seeks == [(TP, 3)]


async def test_messages_fetched_again_after_a_seek_are_not_processed_twice() -> None:
    consumer = Consumer(committed=None)  # nothing committed: the first offset seen is the start
    sequencer = consumer.sequencer()
    assert await verdicts(sequencer, [0, 1, 2, 1, 2, 3]) == ["process"] * 3 + ["duplicate"] * 2 + ["process"]


async def test_a_seek_that_did_not_help_is_repeated_later_not_on_every_message() -> None:
    consumer = Consumer(committed=0)
    sequencer = consumer.sequencer()
    await verdicts(sequencer, [0, 2, 3])
    assert consumer.seeks == [(TP, 1)]
    consumer.now += 5  # the missing message still has not come round
    await verdicts(sequencer, [4])
    assert consumer.seeks == [(TP, 1), (TP, 1)]


async def test_a_rebalance_starts_again_from_the_committed_offset() -> None:
    consumer = Consumer(committed=3)
    sequencer = consumer.sequencer()
    await verdicts(sequencer, [3, 4, 5])
    consumer.generation, consumer.committed = 2, 4  # the new owner resumes at the last commit
    assert await verdicts(sequencer, [4, 5, 6]) == ["process"] * 3
    assert consumer.seeks == []


async def test_without_a_commit_the_partition_starts_at_zero_not_at_a_stale_event() -> None:
    consumer = Consumer(committed=None)
    sequencer = consumer.sequencer()
    # An event fetched before the rebalance arrives first; offsets 0.. must still be processed.
    assert await verdicts(sequencer, [5, 0, 1]) == ["drop", "process", "process"]
    assert consumer.seeks == [(TP, 0)]


async def test_a_partition_whose_start_was_deleted_by_retention_begins_where_it_starts() -> None:
    consumer = Consumer(committed=None)
    sequencer = consumer.sequencer()
    assert await verdicts(sequencer, [40]) == ["drop"]  # sought back to 0 once
    consumer.now += 5  # offset 0 never came: the log starts at 40
    assert await verdicts(sequencer, [40, 41]) == ["process", "process"]
