"""Avro in the Confluent wire format (0x00, 4-byte schema id, binary body) with a schema registry.

Written through `confluent_kafka.schema_registry`'s AvroSerializer with the record-name subject
strategy (subject = the record's full name, e.g. `io.ragstream.commands.UpsertDocument`), so the
three command types share the commands topic and each type evolves under the registry's
compatibility rule (BACKWARD by default: a schema the registry refuses is never written). Read
through AvroDeserializer into this codebase's newest version of the type. Records in the Avro
single-object encoding (what ragstream wrote before) are still read, so a running deployment moves
from one encoding to the other without a stop (schemas/avro/EVOLUTION.md).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal, TypeVar

import httpx
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import SerializationError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from ragstream.codec.avro import AvroSingleObjectCodec, Decoded
from ragstream.codec.exceptions import MalformedRecord, RegistryUnavailable, SchemaRejected, UnknownSchema

MAGIC = 0
_HEADER = 5
# How long an encode or decode waits out an unreachable registry before giving up (it blocks only
# the first use of each schema: ids and schemas are cached).
REGISTRY_WAIT_S = 30.0
T = TypeVar("T")


class _Transient(Exception):
    pass


class ConfluentAvroCodec:
    """Writes `write_format` ("confluent" or "single-object"); reads both."""

    def __init__(
        self,
        schemas: list[tuple[str, int, dict[str, Any]]],
        client: SchemaRegistryClient,
        *,
        write_format: Literal["confluent", "single-object"] = "confluent",
        auto_register: bool = True,
        read_as: Mapping[str, int] | None = None,
    ) -> None:
        self._local = AvroSingleObjectCodec(schemas, read_as=read_as)
        self._client = client
        self._write_format = write_format
        self._auto_register = auto_register
        self._serializers: dict[str, AvroSerializer] = {}
        self._deserializers: dict[str, AvroDeserializer] = {}
        self._names: dict[int, str] = {}  # schema id -> short record name
        self._any: AvroDeserializer | None = None  # reads with the writer schema only
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return self._local.names

    def latest_version(self, name: str) -> int:
        return self._local.latest_version(name)

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        if self._write_format == "single-object":
            return self._local.encode(name, record)
        serializer = self._serializer(name)
        try:
            data = self._call(lambda: serializer(dict(record), None))
        except (SerializationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedRecord(f"{name} record does not match its schema: {exc}") from exc
        assert data is not None
        return data

    def decode(self, data: bytes) -> Decoded:
        if data[:1] != bytes([MAGIC]):
            return self._local.decode(data)  # single-object encoding (or MalformedRecord)
        if len(data) <= _HEADER:
            raise MalformedRecord("truncated Confluent wire-format record")
        name = self._writer_name(int.from_bytes(data[1:_HEADER], "big"))
        deserializer = self._deserializer(name)
        try:
            record = self._call(lambda: deserializer(data, None))
        except (SerializationError, ValueError, TypeError, KeyError, EOFError, IndexError) as exc:
            raise MalformedRecord(f"corrupt {name} record: {exc}") from exc
        if not isinstance(record, dict):
            raise MalformedRecord(f"{name} did not decode to a record")
        return Decoded(name, record)

    def decode_any(self, data: bytes) -> Any:
        """A Confluent wire-format record of any schema the registry holds (not only ragstream's own
        types: a Debezium change event, say), read with its writer schema. Avro logical types come
        back as Python values (datetime, date, time, Decimal, UUID)."""
        if data[:1] != bytes([MAGIC]) or len(data) <= _HEADER:
            raise MalformedRecord("not a Confluent wire-format Avro record")
        with self._lock:
            if self._any is None:
                self._any = AvroDeserializer(self._client)
            deserializer = self._any
        try:
            return self._call(lambda: deserializer(data, None))
        except (SerializationError, ValueError, TypeError, KeyError, EOFError, IndexError) as exc:
            schema_id = int.from_bytes(data[1:_HEADER], "big")
            raise MalformedRecord(f"corrupt record of schema {schema_id}: {exc}") from exc

    def register_all(self) -> dict[str, int]:
        """Registers (or finds) the newest schema of every record type: the id of each by name.
        Refused with SchemaRejected when the registry finds a schema incompatible."""
        out: dict[str, int] = {}
        for name in self.names:
            schema = Schema(self._local.schema_json(name), "AVRO")
            subject = self.subject(name)
            registered = self._call(partial(self._client.register_schema_full_response, subject, schema))
            assert registered.schema_id is not None
            out[name] = registered.schema_id
        return out

    def subject(self, name: str) -> str:
        raw = json.loads(self._local.schema_json(name))
        namespace = raw.get("namespace")
        return f"{namespace}.{raw['name']}" if namespace else str(raw["name"])

    def _serializer(self, name: str) -> AvroSerializer:
        with self._lock:
            if name not in self._serializers:
                self._serializers[name] = AvroSerializer(
                    self._client,
                    self._local.schema_json(name),
                    conf={
                        "auto.register.schemas": self._auto_register,
                        "subject.name.strategy": record_subject_name_strategy,
                        # Like the single-object codec: a missing field takes its default, else fails.
                        "validate.strict.allow.default": True,
                    },
                )
            return self._serializers[name]

    def _deserializer(self, name: str) -> AvroDeserializer:
        with self._lock:
            if name not in self._deserializers:
                self._deserializers[name] = AvroDeserializer(
                    self._client, self._local.schema_json(name, reader=True)
                )
            return self._deserializers[name]

    def _writer_name(self, schema_id: int) -> str:
        name = self._names.get(schema_id)
        if name is None:
            schema = self._call(lambda: self._client.get_schema(schema_id))
            try:
                raw = json.loads(schema.schema_str or "")
                name = str(raw["name"]).rsplit(".", 1)[-1]
            except (ValueError, KeyError, TypeError) as exc:
                raise UnknownSchema(f"schema {schema_id} is not an Avro record schema") from exc
            if name not in self.names:
                raise UnknownSchema(f"schema {schema_id} is a {name}, which this codec does not know")
            self._names[schema_id] = name
        return name

    def _call(self, fn: Callable[[], T]) -> T:
        """Runs a call that may reach the registry: waits out outages, maps its refusals."""

        def attempt() -> T:
            try:
                return fn()
            except httpx.TransportError as exc:
                raise _Transient(str(exc)) from exc
            except SchemaRegistryError as exc:
                if exc.http_status_code >= 500 or exc.http_status_code == 429:
                    raise _Transient(str(exc)) from exc
                if exc.http_status_code == 404:
                    raise UnknownSchema(f"the schema registry does not know it: {exc.error_message}") from exc
                if exc.http_status_code in (409, 422):
                    raise SchemaRejected(
                        f"the schema registry refused the schema: {exc.error_message}"
                    ) from exc
                raise RegistryUnavailable(f"the schema registry answered {exc}") from exc

        try:
            for retry in Retrying(
                retry=retry_if_exception_type(_Transient),
                wait=wait_exponential_jitter(initial=0.2, max=3.0),
                stop=stop_after_delay(REGISTRY_WAIT_S),
                reraise=True,
            ):
                with retry:
                    return attempt()
        except _Transient as exc:
            raise RegistryUnavailable(f"schema registry unreachable: {exc}") from exc
        raise AssertionError("unreachable")


def registry_client(url: str, basic_auth: str = "") -> SchemaRegistryClient:
    conf: dict[str, Any] = {"url": url, "timeout": 10}
    if basic_auth:
        conf["basic.auth.user.info"] = basic_auth
    return SchemaRegistryClient(conf)
