"""What a command must be, beyond its Avro schema, to become an event.

The REST API, the SDK, the ingest CLI and CDC build commands with the models of ragstream.contracts,
so nothing they write breaks a rule Avro cannot express (identifier patterns, sizes, NUL). Any other
Avro producer writes straight to the commands topic: the validate stage holds its commands to the
same models, so a NUL in a metadata value or a 3 MB text is a rejected command with a reason, not a
projection stalled on PostgreSQL or a document too large for every topic after this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from ragstream.contracts import DocumentCommand
from ragstream.postgres import storable_text

# Each command model by its Avro record name (the `avro_name` every model carries).
MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["avro_name"].default: model for model in get_args(DocumentCommand)
}
# Room left in a record for what is not its key and value: the record batch's framing (61 bytes
# and a few varints) and the trace and lane headers (~200 bytes).
RECORD_HEADROOM = 4096
# An embedding is a vector of 4-byte floats (Avro `float`), one per chunk.
FLOAT_BYTES = 4
# What a rejection carries of the command it refuses (streams.versioning._base), cut to these sizes.
_CARRIED_CHARS = 1024
_CARRIED_SOURCE_ENTRIES = 32
# A reason is stored in the CommandRejected event and shown in the document's history.
_SHOWN_ERRORS = 3
_MESSAGE_CHARS = 160


def contract_violation(name: str, record: Mapping[str, Any]) -> str | None:
    """Why the decoded command breaks its contract model, in a line; None when it keeps it."""
    model = MODELS.get(name)
    if model is None:
        return None  # an unknown type is decided (rejected) by versioning.decide
    fields = {k: v for k, v in record.items() if k != "schema_version"}
    try:
        model.model_validate(fields)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        shown = "; ".join(_described(e) for e in errors[:_SHOWN_ERRORS])
        more = len(errors) - _SHOWN_ERRORS
        return shown + (f" (and {more} more)" if more > 0 else "")
    return None


def storable(cmd: Mapping[str, Any]) -> dict[str, Any]:
    """The command, with what its rejection carries of it (ids, actor, source) made storable: a
    command that broke its contract can hold NUL there, which the rejection's way into the
    registry's history (PostgreSQL text) cannot carry, or megabytes, which would not fit in a
    record; either way the rejection was dead-lettered and the history never told why."""
    out = dict(cmd)
    for field in ("command_id", "tenant", "document_id", "actor"):
        out[field] = _storable(cmd[field])
    entries = list((cmd.get("source") or {}).items())[:_CARRIED_SOURCE_ENTRIES]
    out["source"] = {_storable(k): _storable(v) for k, v in entries}
    return out


def _storable(text: str) -> str:
    return storable_text(text, _CARRIED_CHARS)


def _described(error: Mapping[str, Any]) -> str:
    # A location can hold the producer's own text (a metadata key): cut short, and without NUL.
    where = ".".join(str(part)[:_MESSAGE_CHARS] for part in error["loc"])
    described = f"{where}: {error['msg']}" if where else str(error["msg"])
    return storable_text(described, 2 * _MESSAGE_CHARS)


def oversize(what: str, key: bytes, value: bytes, max_message_bytes: int) -> str | None:
    """Why a record of this key and value would not fit within the topics' record limit (the
    producer refuses a larger one outright, the broker one that only its headers push over), in
    words naming `what` it holds; None when it fits."""
    if _fits(key, len(value), max_message_bytes):
        return None
    return f"its {what} would be {len(value):,} bytes, over the {max_message_bytes:,} a record may hold"


def unembeddable(
    key: bytes, chunked: bytes, chunks: int, dimension: int, max_message_bytes: int
) -> str | None:
    """Why the DocumentEmbedded of this (encoded) DocumentChunked could not fit in a record, known
    before the model runs: it carries every field of the DocumentChunked plus a vector of
    `dimension` floats per chunk, so their sum is a floor of its size. Thousands of chunks keep the
    model busy for minutes, to be dead-lettered after; None when the floor fits (the embedding
    stage checks the real size)."""
    floor = len(chunked) + chunks * dimension * FLOAT_BYTES
    if _fits(key, floor, max_message_bytes):
        return None
    return (
        f"its DocumentEmbedded would be over {floor:,} bytes ({chunks:,} chunks and a vector of "
        f"{dimension} floats each), over the {max_message_bytes:,} a record may hold"
    )


def _fits(key: bytes, value_bytes: int, max_message_bytes: int) -> bool:
    return len(key) + value_bytes + RECORD_HEADROOM <= max_message_bytes
