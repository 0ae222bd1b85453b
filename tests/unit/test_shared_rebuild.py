"""The swap and catch-up of a shared keyword index rebuild, against an in-memory log."""

from __future__ import annotations

from ragstream.queries.admin.shared_rebuild import swap_then_catch_up


class FakeLog:
    """One partition: what the log holds, and what the new generation has applied of it."""

    def __init__(self, records: list[str]) -> None:
        self.records = list(records)
        self.applied: list[str] = []
        self.swapped = False

    def next_offsets(self) -> dict[int, int]:
        return {0: len(self.applied)}

    async def ends(self) -> dict[int, int]:
        return {0: len(self.records)}

    async def apply_next(self) -> None:
        self.applied += self.records[len(self.applied) : len(self.applied) + 1]


async def test_a_record_the_workers_apply_to_the_old_generation_during_the_swap_reaches_the_new_one() -> None:
    log = FakeLog(["s-200", "s-201"])

    async def swap() -> list[str]:
        # The alias update takes a while; meanwhile a worker applies a new record to the old
        # generation, which the alias still points at.
        log.records.append("s-202")
        log.swapped = True
        return ["chunks-g000001"]

    retired = await swap_then_catch_up(swap, log.ends, log.next_offsets, log.apply_next)

    assert retired == ["chunks-g000001"]
    assert log.applied == ["s-200", "s-201", "s-202"]


async def test_the_end_offsets_are_read_only_after_the_swap() -> None:
    log = FakeLog(["s-0"])
    read_while_swapped: list[bool] = []

    async def swap() -> list[str]:
        log.swapped = True
        return []

    async def ends() -> dict[int, int]:
        read_while_swapped.append(log.swapped)
        return await log.ends()

    await swap_then_catch_up(swap, ends, log.next_offsets, log.apply_next)

    assert read_while_swapped == [True]
    assert log.applied == ["s-0"]


async def test_nothing_is_applied_when_the_new_generation_is_already_at_the_end() -> None:
    log = FakeLog(["s-0", "s-1"])
    log.applied = ["s-0", "s-1"]
    calls: list[str] = []

    async def swap() -> list[str]:
        return []

    async def apply_next() -> None:
        calls.append("apply")

    await swap_then_catch_up(swap, log.ends, log.next_offsets, apply_next)

    assert calls == []
