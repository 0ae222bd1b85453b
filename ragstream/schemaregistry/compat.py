"""Schema parsing and the compatibility rules a subject enforces, with Apache Avro's own checker.

BACKWARD: the new schema can read data written with the previous one (consumers upgrade first).
FORWARD: the previous schema can read data written with the new one. FULL: both. The _TRANSITIVE
variants check against every earlier version instead of the latest only.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.errors import AvroException


class Compatibility(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.startswith(("FORWARD", "FULL"))


class InvalidSchema(ValueError):
    """The text is not a valid Avro schema."""


def parse(text: str) -> avro.schema.Schema:
    try:
        return avro.schema.parse(text)
    except (AvroException, json.JSONDecodeError, TypeError, ValueError) as exc:
        raise InvalidSchema(f"invalid Avro schema: {exc}") from exc


def normalize(text: str) -> str:
    """The schema as compact JSON with sorted keys: one id for one schema however it is spaced.

    Not Avro's parsing canonical form, which drops defaults and docs: two schemas that differ in a
    default resolve differently, so they are two schemas."""
    parse(text)
    loaded: Any = json.loads(text)
    return json.dumps(loaded, sort_keys=True, separators=(",", ":"))


def _readable(reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[str]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted(str(i.value) for i in result.incompatibilities))
    where = ", ".join(sorted(result.locations))
    return [f"{kinds} at {where} ({', '.join(sorted(map(str, result.messages)))})"]


def incompatibilities(level: Compatibility, new: str, previous: list[str]) -> list[str]:
    """Why `new` may not follow `previous` (oldest first) under `level`; empty when it may."""
    if level is Compatibility.NONE or not previous:
        return []
    candidate = parse(new)
    against = previous if level.transitive else previous[-1:]
    problems: list[str] = []
    for old_text in against:
        old = parse(old_text)
        if level.backward:
            problems += [
                f"new schema cannot read data written by an earlier one: {p}"
                for p in _readable(candidate, old)
            ]
        if level.forward:
            problems += [
                f"an earlier schema cannot read data written by the new one: {p}"
                for p in _readable(old, candidate)
            ]
    return problems
