"""What became of a write, as this query node sees it: the wait behind `GET /v1/documents/{id}/events`.

A command is *searchable* the moment this node's read models hold its version (the index feed's
condition wakes the waiter; no polling of the indexes), *rejected* once the registry's audit trail
records its rejection, and *failed* once it records that a stage dead-lettered it on its way to the
read models (that version will never be searchable). The outcome of a command is told apart by the
audit trail, which the stream workers write as soon as the command is validated, well before its
chunks are indexed (and a failure when its dead letter is written).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ragstream.queries.readmodels.projection import parse_position
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.store import AuditEntry
from ragstream.queries.service import QueryService
from ragstream.topics import Lane, position_key

Outcome = Literal["searchable", "rejected", "failed", "timeout"]
# How often the audit trail is asked while a command has not been recorded yet.
AUDIT_POLL_S = 0.1


@dataclass(frozen=True)
class CommandOutcome:
    """searchable: the read models hold `version` (or a later one); rejected: with the `reason`
    (and the document's version then); failed: dead-lettered on the way, with the processor and
    reason in `reason`; timeout: none of these within the wait."""

    outcome: Outcome
    document_id: str
    command_id: str
    version: int | None = None
    reason: str = ""


class OutcomeWaiter:
    def __init__(self, service: QueryService, registry: RegistryStore, poll_s: float = AUDIT_POLL_S) -> None:
        self._service = service
        self._registry = registry
        self._poll_s = poll_s

    async def wait(
        self,
        tenant: str,
        document_id: str,
        command_id: str,
        positions: Mapping[int, int] | None,
        timeout_s: float,
    ) -> CommandOutcome:
        """`positions`: the command's place in the commands topic (its consistency token), if known;
        otherwise the audit trail says where it is."""
        deadline = time.monotonic() + timeout_s

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        def timeout() -> CommandOutcome:
            return CommandOutcome("timeout", document_id, command_id)

        if positions:
            ended = await self._until_applied(
                lambda t: self._behind(positions, t), tenant, document_id, command_id, deadline
            )
            if ended is not None:
                return ended
        entry = await self._recorded(tenant, document_id, command_id, deadline)
        if entry is None:
            return timeout()
        if entry.outcome == "rejected":
            return CommandOutcome("rejected", document_id, command_id, entry.version, entry.reason)
        if await self._failed(tenant, document_id, entry):
            return CommandOutcome("failed", document_id, command_id, entry.version, entry.reason)
        version = entry.version or 0
        if not positions:
            position = parse_position(entry.command_position)
            # Only older records lack their position; the version check below still decides.
            if position is not None:
                ended = await self._until_applied(
                    lambda t: self._behind_both_lanes(*position, t), tenant, document_id, command_id, deadline
                )
                if ended is not None:
                    return ended
        # Past the command's position, the version must be there; it is not if the document never
        # reached the indexes: dead-lettered on the way (the registry records that a moment later),
        # or a later write came first; wait on for either, or the end.
        while not await self._service.holds(tenant, document_id, version):
            if left() <= 0:
                return timeout()
            await asyncio.sleep(min(self._poll_s * 5, left()))
            if failed := await self._recorded_failure(tenant, document_id, command_id):
                return failed
        return CommandOutcome("searchable", document_id, command_id, entry.version)

    async def _until_applied(
        self,
        behind: Callable[[float], Awaitable[bool]],
        tenant: str,
        document_id: str,
        command_id: str,
        deadline: float,
    ) -> CommandOutcome | None:
        """Wait until the read models have reached the command's position (None), looking at the
        audit trail in between: a command dead-lettered on its way never reaches them, and with no
        later write in its partition their position never passes it either, so without a look its
        writer would wait for the whole timeout to be told nothing."""
        while True:
            left = max(0.0, deadline - time.monotonic())
            if not await behind(min(self._poll_s * 5, left)):
                return None
            if failed := await self._recorded_failure(tenant, document_id, command_id):
                return failed
            if time.monotonic() >= deadline:
                return CommandOutcome("timeout", document_id, command_id)

    async def _recorded_failure(
        self, tenant: str, document_id: str, command_id: str
    ) -> CommandOutcome | None:
        """The failed outcome, if the audit trail now records one that stands for this node."""
        latest = await self._registry.command_outcome(tenant, document_id, command_id)
        if latest is not None and await self._failed(tenant, document_id, latest):
            return CommandOutcome("failed", document_id, command_id, latest.version, latest.reason)
        return None

    async def _failed(self, tenant: str, document_id: str, entry: AuditEntry) -> bool:
        """Whether a `failed` entry stands for this node: a version its read models hold anyway is
        searchable here (a server index's refusal, where this node searches no server index)."""
        if entry.outcome != "failed":
            return False
        return entry.version is None or not await self._service.holds(tenant, document_id, entry.version)

    async def _behind(self, positions: Mapping[int, int], timeout_s: float) -> bool:
        """Whether the read models are still behind `positions` when `timeout_s` ends."""
        return bool(await self._service.wait_applied(positions, timeout_s))

    async def _behind_both_lanes(self, partition: int, offset: int, timeout_s: float) -> bool:
        """Like `_behind`, for a position whose lane is not known (the registry does not record it):
        the lane the command took reaches it once applied, so whichever lane reaches it first ends
        the wait (the version check after it decides)."""
        waits = [
            asyncio.ensure_future(self._behind({position_key(partition, lane): offset}, timeout_s))
            for lane in Lane
        ]
        try:
            for done in asyncio.as_completed(waits):
                if not await done:
                    return False
            return True
        finally:
            for wait in waits:
                wait.cancel()

    async def _recorded(
        self, tenant: str, document_id: str, command_id: str, deadline: float
    ) -> AuditEntry | None:
        while True:
            entry = await self._registry.command_outcome(tenant, document_id, command_id)
            if entry is not None or time.monotonic() >= deadline:
                return entry
            await asyncio.sleep(min(self._poll_s, max(0.0, deadline - time.monotonic())))
