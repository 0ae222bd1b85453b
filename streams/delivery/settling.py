"""A batch's sends, settled per document before that document's next record is decided.

The validate stage decides each command on the state its document's previous command left, and
sends each event without waiting for its ack, so a batch waits for the broker once. An event the
broker refuses for good (larger than the topic's own `max.message.bytes`, a corrupt record) would
leave that state wrong: the next command of the document would be decided on an event that is not
in the log, and a batch that raised on the refusal would be redelivered only to be refused again,
forever. So a record waits for the ack of its document's previous record in the batch (other
documents' sends stay in flight), and a refusal is settled before the document goes on: the caller
puts the document's state back and takes another way (the command rejected with the broker's reason).

Only refusals of the record itself count. A timeout, a lost leader, a closed producer or a topic
the worker may not write are not the record's fault; they still raise, and the batch is processed
again later, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import CorruptRecordException, MessageSizeTooLargeError, RecordListTooLargeError

# What the broker says about one record (or the produce batch holding it), and says again on a resend.
RECORD_REFUSALS = (MessageSizeTooLargeError, RecordListTooLargeError, CorruptRecordException)


@dataclass
class Sent:
    """One record on its way: its pending ack, how to send it again, and what to do if the broker
    refuses it for good (returns whether the input still counts as accepted)."""

    ack: Awaitable[Any]
    resend: Callable[[], Awaitable[Awaitable[Any]]]
    refused: Callable[[BaseException], Awaitable[bool]]
    accepted: bool


class DocumentSends:
    """At most one unsettled send per document; `outcomes` lists each settled input's acceptance."""

    def __init__(self) -> None:
        self._unsettled: dict[Hashable, Sent] = {}
        self.outcomes: list[bool] = []

    def track(self, document: Hashable, sent: Sent) -> None:
        if document in self._unsettled:
            raise RuntimeError(f"{document!r} was sent again before its last send was settled")
        self._unsettled[document] = sent

    async def settle(self, document: Hashable) -> None:
        """Wait for the document's unsettled send, if any, and settle a refusal of it."""
        sent = self._unsettled.pop(document, None)
        if sent is None:
            return
        accepted = sent.accepted
        try:
            await delivered(sent.ack, sent.resend)
        except RECORD_REFUSALS as error:
            accepted = await sent.refused(error)
        self.outcomes.append(accepted)

    async def settle_all(self) -> None:
        # The acks are all in flight already; waiting for them in turn costs no more than together.
        for document in list(self._unsettled):
            await self.settle(document)


async def delivered(ack: Awaitable[Any], resend: Callable[[], Awaitable[Awaitable[Any]]]) -> None:
    """Wait until a record is durable. A refusal is answered by sending the record once more,
    alone; a refusal of that (the record's own fault) raises, as does any other error (not its fault:
    the caller's batch is processed again)."""
    try:
        await ack
    except RECORD_REFUSALS:
        # The broker answers for a whole produce batch: a record that shared one with a refused
        # record is refused with it. Alone, a record that is fine goes through.
        await (await resend())
