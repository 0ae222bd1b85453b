"""Declarative table-to-document mappings, and the pure conversion of one Debezium change event into a
document command.

A mapping file (YAML, see connectors/README.md) names the connector, the source table and where each
document field comes from. A plain string names a column; `{constant: ...}` gives a fixed value:

    name: articles
    table: public.articles
    document:
      id: id
      title: title
      content: body
      content_type: {constant: text/markdown}
      tenant: {column: tenant}
      acl: {column: readers, default_kind: group}
      metadata: {author: author, lang: {constant: en}}
      version: revision
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ragstream.contracts import (
    ContentType,
    DeleteDocument,
    DocumentCommand,
    MetadataKey,
    UpsertDocument,
)
from ragstream.identifiers import TENANT_PATTERN
from ragstream.streams.cdc.envelope import ChangeEvent, parse_event
from ragstream.streams.cdc.exceptions import InvalidMapping, UnconvertibleEvent

# Must equal `unavailable.value.placeholder` in connectors/debezium-postgres.json: Debezium puts it where
# PostgreSQL did not send a value (an unchanged TOASTed column of a table without REPLICA IDENTITY FULL).
UNAVAILABLE = "__debezium_unavailable_value"

# Plain identifiers only: Debezium names the topic after schema and table, and anything else would be
# rewritten there, so the worker would listen on the wrong topic.
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,62}"


def _matches(pattern: str, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


ColumnName = Annotated[str, _matches(_IDENTIFIER, "a plain column name (letters, digits, _)")]
TableName = Annotated[
    str, _matches(f"{_IDENTIFIER}\\.{_IDENTIFIER}", "a schema-qualified table name like public.articles")
]
# Slot and publication names: PostgreSQL folds unquoted names to lower case, Debezium does not quote.
PgObjectName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
ConnectorName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]

_CONTENT_TYPE_ALIASES = {
    "text": ContentType.TEXT,
    "txt": ContentType.TEXT,
    "plain": ContentType.TEXT,
    "markdown": ContentType.MARKDOWN,
    "md": ContentType.MARKDOWN,
    "html": ContentType.HTML,
}
# Metadata and titles are truncated, not refused: one long value must not keep a document out of search.
_MAX_METADATA_CHARS = 1024
_MAX_TITLE_CHARS = 1024
_CDC_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "ragstream:cdc")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValueSource(_Model):
    """Where one document field comes from: a column of the row, or a constant."""

    column: ColumnName | None = None
    constant: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueSource:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of `column` or `constant`")
        return self

    def read(self, row: Mapping[str, Any], table: str) -> Any:
        if self.constant is not None:
            return self.constant
        assert self.column is not None
        if self.column not in row:
            raise UnconvertibleEvent(
                f"column {self.column!r} is not in the change event of {table}; columns: {', '.join(sorted(row))}"
            )
        value = row[self.column]
        if value == UNAVAILABLE or (isinstance(value, list) and UNAVAILABLE in value):
            raise UnconvertibleEvent(
                f"PostgreSQL did not send column {self.column!r} of {table} (an unchanged TOASTed value); "
                f"run `ALTER TABLE {table} REPLICA IDENTITY FULL` so every change carries every column"
            )
        return value


class AclSource(ValueSource):
    """ACL from a text[] column, a comma-separated text column or a constant ("group:eng,user:ann")."""

    # Prefix for bare entries ("eng" -> "group:eng") when the table stores names without a kind.
    default_kind: Literal["user", "group"] | None = None


class DocumentSpec(_Model):
    id: ValueSource
    # Keeps ids from different tables apart when they share a tenant ("articles/42").
    id_prefix: Annotated[str, StringConstraints(max_length=128)] = ""
    title: ValueSource | None = None
    content: ValueSource
    content_type: ValueSource = ValueSource(constant=ContentType.TEXT.value)
    tenant: ValueSource = ValueSource(constant="default")
    metadata: dict[MetadataKey, ValueSource] = Field(default_factory=dict, max_length=64)
    acl: AclSource | None = None
    # A monotonic revision column: commands carry it as document_version, so a replayed or reordered
    # change older than the indexed one is rejected as stale. Without it each change is the next version.
    version: ValueSource | None = None
    # A row whose content is NULL or blank is not a searchable document: delete it, or dead-letter the change.
    on_empty_content: Literal["delete", "error"] = "delete"

    @model_validator(mode="after")
    def _check(self) -> DocumentSpec:
        for name in ("id", "content", "version"):
            source = getattr(self, name)
            if source is not None and source.column is None:
                raise ValueError(f"`{name}` must name a column")
        if self.content_type.constant is not None:
            try:
                _content_type(self.content_type.constant)
            except UnconvertibleEvent as exc:
                raise ValueError(str(exc)) from None
        if self.tenant.constant is not None and not re.match(TENANT_PATTERN, self.tenant.constant):
            raise ValueError(f"tenant {self.tenant.constant!r} does not match {TENANT_PATTERN}")
        return self

    def identity_columns(self) -> list[str]:
        return [s.column for s in (self.id, self.tenant) if s.column is not None]


class DatabaseOverride(_Model):
    """Database coordinates for this table when they differ from the ragstream PostgreSQL settings."""

    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    database: str | None = None
    # The name of an environment variable holding the password: secrets stay out of mapping files.
    password_env: str | None = None


class CdcMapping(_Model):
    """One source table: its Debezium connector and how its rows become documents."""

    name: ConnectorName
    table: TableName
    database: DatabaseOverride = DatabaseOverride()
    slot_name: PgObjectName | None = None
    publication: PgObjectName | None = None
    document: DocumentSpec

    @property
    def schema_name(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def actor(self) -> str:
        return f"cdc:{self.name}"

    @property
    def slot(self) -> str:
        return self.slot_name or _pg_name(self.name)

    @property
    def publication_name(self) -> str:
        return self.publication or _pg_name(self.name)

    def topic(self, cdc_prefix: str) -> str:
        """The Debezium topic of the table: `<topic.prefix>.<schema>.<table>`."""
        return f"{cdc_prefix}.{self.table}"


def _pg_name(connector: str) -> str:
    return ("ragstream_" + re.sub(r"[^a-z0-9_]", "_", connector.lower()))[:63]


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def parse_mapping(data: Any, origin: str = "mapping") -> CdcMapping:
    try:
        return CdcMapping.model_validate(data)
    except ValidationError as exc:
        raise InvalidMapping(f"{origin} is not a valid mapping:\n{_format_errors(exc)}") from exc


def load_mapping(path: Path | str) -> CdcMapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidMapping(f"cannot read mapping {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidMapping(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidMapping(
            f"{path} must hold a YAML mapping (name, table, document), not {type(data).__name__}"
        )
    return parse_mapping(data, str(path))


def load_mappings(paths: Iterable[Path | str]) -> list[CdcMapping]:
    """Loads mapping files; a folder stands for every *.yaml / *.yml file in it."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        else:
            files.append(path)
    mappings = [load_mapping(f) for f in files]
    for attr in ("name", "table"):
        values = [getattr(m, attr) for m in mappings]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            # Two connectors on one table would write one topic twice, so every change would arrive twice.
            raise InvalidMapping(f"more than one mapping with {attr} {', '.join(duplicates)}")
    return mappings


def _content_type(value: Any) -> ContentType:
    text = str(value).strip().lower()
    try:
        return _CONTENT_TYPE_ALIASES.get(text) or ContentType(text)
    except ValueError:
        allowed = ", ".join([*(c.value for c in ContentType), *_CONTENT_TYPE_ALIASES])
        raise UnconvertibleEvent(f"content type {value!r} is not one of {allowed}") from None


def _bytea(value: Any, column: str | None) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise UnconvertibleEvent(
            f"column {column!r} holds a binary document's bytes: a bytea column (bytes in Avro, base64 in JSON)"
        ) from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        # As Debezium's JSON has a bytea value, so a row reads the same from an Avro topic.
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def parse_acl(value: Any, default_kind: str | None = None) -> list[str]:
    """text[] arrives as a JSON list, text as "a, b"; bare names get `default_kind:` when it is set."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise UnconvertibleEvent(
            f"ACL must be a text array or comma-separated text, not {type(value).__name__}"
        )
    acl: list[str] = []
    for item in items:
        if item is None:
            continue
        entry = str(item).strip()
        if not entry:
            continue
        if default_kind and not entry.startswith(("user:", "group:")):
            entry = f"{default_kind}:{entry}"
        if entry not in acl:
            acl.append(entry)
    return acl


class _Converter:
    """Reads one row with one mapping; every failure names the table and the column."""

    def __init__(self, mapping: CdcMapping, event: ChangeEvent, position: str | None) -> None:
        self.mapping = mapping
        self.doc = mapping.document
        self.event = event
        self.position = position

    def read(self, source: ValueSource, row: Mapping[str, Any]) -> Any:
        return source.read(row, self.mapping.table)

    def identity(self, row: Mapping[str, Any]) -> tuple[str, str]:
        tenant, document_id = self.read(self.doc.tenant, row), self.read(self.doc.id, row)
        if tenant is None or document_id is None or tenant == "" or document_id == "":
            hint = ""
            if self.event.op == "d":
                hint = (
                    f"; a delete carries only the primary key unless the table has REPLICA IDENTITY FULL "
                    f"(`ALTER TABLE {self.mapping.table} REPLICA IDENTITY FULL`)"
                )
            raise UnconvertibleEvent(
                f"{self.mapping.table}: tenant {tenant!r} / document id {document_id!r} missing{hint}"
            )
        tenant = str(tenant)
        if not re.match(TENANT_PATTERN, tenant):
            raise UnconvertibleEvent(
                f"{self.mapping.table}: tenant {tenant!r} does not match {TENANT_PATTERN}"
            )
        return tenant, f"{self.doc.id_prefix}{_text(document_id)}"

    def common(self, tenant: str, document_id: str, role: str) -> dict[str, Any]:
        ev, src = self.event, self.event.source
        audit = {
            "via": "cdc",
            "connector": self.mapping.name,
            "table": self.mapping.table,
            "op": ev.op,
            "lsn": src.get("lsn"),
            "txId": src.get("txId"),
            # Null outside the snapshot once the converter stops replacing nulls with schema defaults.
            "snapshot": src.get("snapshot") or "false",
            "sequence": src.get("sequence"),
            "db": src.get("db"),
            "ts_ms": src.get("ts_ms", ev.ts_ms),
            "position": self.position,
        }
        source = {k: _text(v)[:1024] for k, v in audit.items() if v is not None}
        # Deterministic: a change redelivered by Connect or replayed by the worker gets the same command id,
        # and validation rejects it as a duplicate instead of applying it twice.
        identity = [self.mapping.name, self.mapping.table, ev.op, role, tenant, document_id]
        identity += [str(src.get(k)) for k in ("lsn", "txId", "sequence", "ts_ms")] + [str(ev.ts_ms)]
        return {
            "tenant": tenant,
            "document_id": document_id,
            "actor": self.mapping.actor,
            "source": source,
            "command_id": str(uuid.uuid5(_CDC_NAMESPACE, "\x1f".join(identity))),
            "event_time": ev.event_time(),
        }

    def delete(self, row: Mapping[str, Any], role: str = "delete") -> DeleteDocument:
        tenant, document_id = self.identity(row)
        try:
            # Never a document_version: the deleted row's revision equals the indexed one, so it would be stale.
            return DeleteDocument(**self.common(tenant, document_id, role))
        except ValidationError as exc:
            raise UnconvertibleEvent(
                f"{self.mapping.table} row {document_id!r}:\n{_format_errors(exc)}"
            ) from exc

    def upsert(self, row: Mapping[str, Any]) -> DocumentCommand:
        doc = self.doc
        content = self.read(doc.content, row)
        if content is None or not str(content).strip():
            if doc.on_empty_content == "delete":
                return self.delete(row, "empty-content")
            raise UnconvertibleEvent(f"{self.mapping.table}: column {doc.content.column!r} is empty")
        tenant, document_id = self.identity(row)
        title = self.read(doc.title, row) if doc.title else None
        content_type = self.read(doc.content_type, row)
        metadata = {}
        for key, source in doc.metadata.items():
            value = self.read(source, row)
            if value is not None:
                metadata[key] = _text(value)[:_MAX_METADATA_CHARS]
        acl = parse_acl(self.read(doc.acl, row), doc.acl.default_kind) if doc.acl else []
        kind = ContentType.TEXT if content_type is None else _content_type(content_type)
        # A binary document (PDF, Office, e-mail) comes from a bytea column, which Debezium's JSON
        # converter writes as base64; it travels inline (no blob store on this path), within the
        # contract's inline limit, and the extraction stage reads it like an uploaded file.
        body = (
            {"content_bytes": _bytea(content, doc.content.column)}
            if kind.is_binary
            else {"content": _text(content)}
        )
        try:
            return UpsertDocument(
                **self.common(tenant, document_id, "upsert"),
                document_version=self.version(row),
                title="" if title is None else _text(title)[:_MAX_TITLE_CHARS],
                content_type=kind,
                metadata=metadata,
                acl=acl,
                **body,
            )
        except ValidationError as exc:
            raise UnconvertibleEvent(
                f"{self.mapping.table} row {document_id!r}:\n{_format_errors(exc)}"
            ) from exc

    def version(self, row: Mapping[str, Any]) -> int | None:
        if self.doc.version is None:
            return None
        value = self.read(self.doc.version, row)
        try:
            version = int(value) if not isinstance(value, bool) else -1
        except (TypeError, ValueError):
            version = -1
        if version < 1:
            raise UnconvertibleEvent(
                f"{self.mapping.table}: version column {self.doc.version.column!r} must hold an integer >= 1, "
                f"not {value!r}"
            )
        return version


def to_command(event: Any, mapping: CdcMapping, *, position: str | None = None) -> DocumentCommand | None:
    """The command for one Debezium change event (JSON bytes, text or decoded), or None for a tombstone.

    c (insert), u (update) and r (snapshot read) become UpsertDocument, d (delete) DeleteDocument.
    `position` (topic/partition/offset of the change event) is kept in the command's source for audit.
    """
    parsed = parse_event(event)
    if parsed is None:
        return None
    converter = _Converter(mapping, parsed, position)
    if parsed.op == "d":
        return converter.delete(_row(parsed.before, parsed, mapping))
    return converter.upsert(_row(parsed.after, parsed, mapping))


def to_commands(event: Any, mapping: CdcMapping, *, position: str | None = None) -> list[DocumentCommand]:
    """Like `to_command`, plus a delete of the old document when an update moved the row to another
    document id or tenant (visible when the table has REPLICA IDENTITY FULL)."""
    parsed = parse_event(event)
    if parsed is None:
        return []
    commands: list[DocumentCommand] = []
    before = parsed.before
    if (
        parsed.op == "u"
        and before
        and all(before.get(c) is not None for c in mapping.document.identity_columns())
    ):
        converter = _Converter(mapping, parsed, position)
        after = _row(parsed.after, parsed, mapping)
        if converter.identity(before) != converter.identity(after):
            commands.append(converter.delete(before, "moved"))
    command = to_command(parsed, mapping, position=position)
    if command is not None:
        commands.append(command)
    return commands


def _row(row: dict[str, Any] | None, event: ChangeEvent, mapping: CdcMapping) -> dict[str, Any]:
    if row is None:
        side = "before" if event.op == "d" else "after"
        raise UnconvertibleEvent(f"{mapping.table}: a {event.op!r} change event without {side!r}")
    return row
