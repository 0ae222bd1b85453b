"""Dead letters: the original bytes plus why and where they failed, so the partition keeps flowing."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from ragstream.observability.metrics import record_error
from ragstream.observability.tracing import propagated_headers
from ragstream.streams.delivery.publish import publish

DEAD_LETTERS = Counter("ragstream_dead_letters_total", "Records sent to the dead-letter topic", ["processor"])


def dead_letter_headers(
    *, processor: str, error: BaseException, topic: str, partition: int, offset: int
) -> dict[str, bytes]:
    return {
        "processor": processor.encode(),
        "error_type": type(error).__name__.encode(),
        "error": str(error)[:2000].encode(errors="replace"),
        "source_topic": topic.encode(),
        "source_partition": str(partition).encode(),
        "source_offset": str(offset).encode(),
        # The failing record's trace and command, so a dead letter can be found from the request.
        **dict(propagated_headers()),
    }


async def send_dead_letter(
    dlq_topic: Any, *, key: bytes | None, value: bytes | None, processor: str, error: BaseException,
    topic: str, partition: int, offset: int,
) -> None:  # fmt: skip
    DEAD_LETTERS.labels(processor).inc()
    record_error(processor, error)
    headers = dead_letter_headers(
        processor=processor, error=error, topic=topic, partition=partition, offset=offset
    )
    # Awaited to the broker's ack: the bad record's offset commits only once its dead letter is durable.
    pending = await publish(dlq_topic, key=key, value=value or b"", headers=headers)
    await pending
