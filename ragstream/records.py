"""A record read back from the log and decoded: what projections and read models are fed with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LogRecord:
    name: str  # the Avro record name, e.g. "DocumentEmbedded"; "" for a record that did not decode
    record: Mapping[str, Any]
    topic: str
    partition: int
    offset: int
    # The Kafka key and headers, where the reader kept them (the stream workers' projections do).
    key: bytes | None = None
    headers: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"
