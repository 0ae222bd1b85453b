"""Sending a record through faust without leaving a refusal unretrieved.

`Topic.send` (faust-streaming 0.15.3, faust/topics.py `Topic.publish_message`) returns the
producer's future, which the caller awaits, and resolves faust's own `FutureMessage` from it in a
callback (`Topic._on_published`). Nobody awaits that one: when the broker refuses a record (a
`MessageSizeTooLargeError`, say), asyncio logs its exception as "never retrieved", at ERROR with a
traceback, beside the dead letter we write for it. `publish` builds the send from the same public
steps (`as_future_message`, then `publish_message`) and marks that future's outcome as seen; what
the caller awaits, and what it raises, are as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any


async def publish(
    topic: Any, *, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes]
) -> asyncio.Future[Any]:
    """Hand one record to faust's producer: the broker's pending ack, for the caller to await."""
    message = topic.as_future_message(key=key, value=value, headers=headers)
    message.add_done_callback(_seen)
    pending: asyncio.Future[Any] = await topic.publish_message(message)
    return pending


def _seen(message: asyncio.Future[Any]) -> None:
    # The caller learns the outcome from the producer's future; this one only must not be left
    # with an exception nobody asked for.
    if not message.cancelled():
        message.exception()
