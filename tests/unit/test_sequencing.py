"""The offset sequencer: events of a partition pass in offset order; a hole makes it seek back."""

from __future__ import annotations

import pytest

from ragstream.streams.delivery.sequencing import AUDIT_PERIOD_S, STALL_AFTER_S, OffsetSequencer

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


async def test_a_committed_offset_learned_after_the_first_events_is_counted_from() -> None:
    # faust resumes a new partition just before it seeks to the committed offset and records it:
    # the first events come while the committed offset reads as unknown.
    consumer = Consumer(committed=None)
    sequencer = consumer.sequencer()
    assert await verdicts(sequencer, [2, 3]) == ["drop", "drop"]
    consumer.committed = 2  # faust's seek to the committed offset brings 2 and 3 again
    assert await verdicts(sequencer, [2, 3]) == ["process", "process"]
    assert await verdicts(sequencer, [0, 1]) == ["duplicate", "duplicate"]  # our own earlier seek to 0


async def test_an_unknown_committed_offset_is_asked_of_the_broker_first() -> None:
    consumer = Consumer(committed=None)  # faust has not recorded the committed offset yet

    async def broker(tp: object) -> int | None:
        return 2

    sequencer = OffsetSequencer(
        "validate_commands", generation=lambda: 1, committed=lambda tp: consumer.committed,
        rewind=consumer.seek, broker_committed=broker,
    )  # fmt: skip
    assert await verdicts(sequencer, [2, 3]) == ["process", "process"]
    assert consumer.seeks == []  # no needless seek back to the start of the partition


class Log:
    """A partition log's end offsets and this worker's assignment, for the audit."""

    def __init__(self, ends: dict[object, int]) -> None:
        self.ends = ends

    async def end_offsets(self, tps: list[object]) -> dict[object, int]:
        return {tp: self.ends[tp] for tp in tps}


def audited(consumer: Consumer, log: Log) -> OffsetSequencer:
    return OffsetSequencer(
        "validate_commands", generation=lambda: consumer.generation, committed=lambda tp: consumer.committed,
        rewind=consumer.seek, clock=lambda: consumer.now, assigned=lambda: list(log.ends),
        end_offsets=log.end_offsets,
    )  # fmt: skip


async def looks(sequencer: OffsetSequencer, consumer: Consumer, at: list[float]) -> None:
    for now in at:
        consumer.now = now
        await sequencer.audit()


async def test_a_lost_last_message_is_fetched_again_once_it_was_in_the_log_long_enough() -> None:
    consumer, log = Consumer(committed=2), Log({TP: 5})
    sequencer = audited(consumer, log)
    assert await verdicts(sequencer, [2, 3]) == ["process", "process"]  # 4 never comes: no hole shows
    sequencer.idle()
    await looks(sequencer, consumer, [AUDIT_PERIOD_S, 2 * AUDIT_PERIOD_S])
    assert consumer.seeks == []  # it may still be on its way
    await looks(sequencer, consumer, [AUDIT_PERIOD_S + STALL_AFTER_S])
    assert consumer.seeks == [(TP, 4)]
    assert await verdicts(sequencer, [4]) == ["process"]


async def test_a_processor_idle_before_the_message_was_written_waits_for_it_first() -> None:
    consumer, log = Consumer(committed=0), Log({TP: 0})
    sequencer = audited(consumer, log)
    sequencer.idle()
    await looks(sequencer, consumer, [100.0])  # idle for long, nothing to read
    log.ends[TP] = 2  # written just now, still on its way to this worker
    await looks(sequencer, consumer, [103.0])
    assert consumer.seeks == []


async def test_a_busy_or_caught_up_processor_is_left_alone() -> None:
    consumer, log = Consumer(committed=0), Log({TP: 3})
    sequencer = audited(consumer, log)
    await verdicts(sequencer, [0])
    await looks(sequencer, consumer, [100.0, 200.0])  # busy with offset 0 (say, a slow batch)
    sequencer.idle()
    await looks(sequencer, consumer, [300.0])
    await verdicts(sequencer, [1])  # offset 1 arrives: the look at 300 was no stall
    sequencer.idle()
    await looks(sequencer, consumer, [301.0, 305.0])
    await verdicts(sequencer, [2])
    sequencer.idle()
    await looks(sequencer, consumer, [400.0, 500.0])  # everything the log holds was delivered
    assert consumer.seeks == []


async def test_a_partition_that_never_delivered_anything_is_sought_to_its_committed_offset() -> None:
    consumer, log = Consumer(committed=7), Log({TP: 9})
    sequencer = audited(consumer, log)
    sequencer.idle()
    await looks(sequencer, consumer, [AUDIT_PERIOD_S, AUDIT_PERIOD_S + STALL_AFTER_S])
    assert consumer.seeks == [(TP, 7)]
