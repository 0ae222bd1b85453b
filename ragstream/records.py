"""A record read back from the log and decoded: what projections and read models are fed with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogRecord:
    name: str  # the Avro record name, e.g. "DocumentEmbedded"
    record: Mapping[str, Any]
    topic: str
    partition: int
    offset: int

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"
