"""Avro codec using the Avro spec's single-object encoding (0xC3 0x01 + CRC-64-AVRO fingerprint).

The encoding ragstream wrote before it used a schema registry, and the one it writes without one:
every record names the exact writer schema by fingerprint, so a reader resolves it against its own
(newer or older) version. `ragstream.codec.confluent` writes the registry's wire format and reads
both, so topics holding records of either kind stay readable.

Schemas live in `schemas/avro/<Name>.v<N>.avsc`; every version is kept so old records stay readable.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from ragstream.codec.exceptions import MalformedRecord, UnknownSchema

MAGIC = b"\xc3\x01"
_HEADER = len(MAGIC) + 8
_FILE_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>\d+)\.avsc$")


@dataclass(frozen=True)
class Decoded:
    name: str  # short record name, e.g. "UpsertDocument"
    record: dict[str, Any]


class Codec(Protocol):
    def encode(self, name: str, record: Mapping[str, Any]) -> bytes: ...

    def decode(self, data: bytes) -> Decoded: ...


@dataclass(frozen=True)
class _Schema:
    name: str
    version: int
    parsed: Any
    fingerprint: bytes
    raw: dict[str, Any]


class AvroSingleObjectCodec:
    """Writes with the newest version of each schema; reads any known version into the newest."""

    def __init__(
        self, schemas: list[tuple[str, int, dict[str, Any]]], *, read_as: Mapping[str, int] | None = None
    ) -> None:
        """`read_as` pins the version a record type is read into (a consumer not yet upgraded)."""
        self._by_fingerprint: dict[bytes, _Schema] = {}
        self._latest: dict[str, _Schema] = {}
        named: dict[str, Any] = {}
        for name, version, raw in sorted(schemas, key=lambda s: (s[0], s[1])):
            parsed = parse_schema(raw, named_schemas=dict(named), _write_hint=False)
            canonical = to_parsing_canonical_form(parsed)
            fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
            schema = _Schema(name, version, parsed, fp, raw)
            self._by_fingerprint[fp] = schema
            current = self._latest.get(name)
            if current is None or current.version < version:
                self._latest[name] = schema
        self._readers = dict(self._latest)
        for name, version in (read_as or {}).items():
            pinned = [s for s in self._by_fingerprint.values() if s.name == name and s.version == version]
            if not pinned:
                raise UnknownSchema(f"cannot read {name} as v{version}: no such schema")
            self._readers[name] = pinned[0]

    @property
    def names(self) -> list[str]:
        return sorted(self._latest)

    def latest_version(self, name: str) -> int:
        return self._schema(name).version

    def schema_json(self, name: str, *, reader: bool = False) -> str:
        """The newest schema of a record type as JSON (`reader`: the version it is read into)."""
        schema = self._readers[name] if reader else self._schema(name)
        return json.dumps(schema.raw)

    def _schema(self, name: str) -> _Schema:
        try:
            return self._latest[name]
        except KeyError:
            raise UnknownSchema(f"no Avro schema named {name!r}; known: {', '.join(self.names)}") from None

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        schema = self._schema(name)
        out = io.BytesIO()
        out.write(MAGIC)
        # The spec stores the 64-bit fingerprint little-endian; fastavro returns it big-endian hex.
        out.write(schema.fingerprint[::-1])
        try:
            fastavro.schemaless_writer(out, schema.parsed, dict(record), strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedRecord(f"{name} record does not match its schema: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> Decoded:
        if len(data) < _HEADER or data[:2] != MAGIC:
            raise MalformedRecord("not an Avro single-object encoded record (bad magic bytes)")
        fp = bytes(data[2:_HEADER])[::-1]
        writer = self._by_fingerprint.get(fp)
        if writer is None:
            raise UnknownSchema(f"unknown writer schema fingerprint {fp.hex()}")
        reader = self._readers[writer.name]
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[_HEADER:]), writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises many types on truncated or corrupt input
            raise MalformedRecord(f"corrupt {writer.name} record: {exc}") from exc
        if not isinstance(record, dict):
            raise MalformedRecord(f"{writer.name} did not decode to a record")
        return Decoded(writer.name, record)


def read_schema_dir(path: Path) -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for file in sorted(path.glob("*.avsc")):
        match = _FILE_NAME.match(file.name)
        if match is None:
            raise UnknownSchema(f"schema file {file} must be named <Name>.v<N>.avsc")
        found.append((match["name"], int(match["version"]), json.loads(file.read_text())))
    if not found:
        raise UnknownSchema(f"no Avro schemas found in {path}")
    return found
