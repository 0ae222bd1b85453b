"""How a batch of embeddings-topic records becomes index writes, whoever runs the projection.

The query node's embedded projection (state in SQLite beside the index) and the stream workers'
shared projection (server read models, state in PostgreSQL) make the same decisions here: a record
at or below the version the indexes hold is stale and skipped, so redelivery and replay never
resurrect or duplicate anything; offsets and command positions advance with every record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from ragstream.queries.readmodels.base import DocumentChunks, IndexedChunk, SearchIndex
from ragstream.records import LogRecord
from ragstream.topics import header_lane, position_key

READ_MODELS = ("lexical", "vector")


@dataclass
class BatchPlan:
    """What to write for a batch: records to apply in order, and where the batch leaves the log."""

    to_apply: list[LogRecord] = field(default_factory=list)
    # (tenant, document_id, version, deleted) per applied record, for the version table.
    applied: list[tuple[str, str, int, bool]] = field(default_factory=list)
    skipped: int = 0
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # Highest command position (position_key(partition, lane) -> offset) behind the batch, for
    # read-your-writes.
    command_positions: dict[int, int] = field(default_factory=dict)
    # Documents no version of which was applied before this batch and that it applies once: a
    # write of theirs has nothing to remove first (most of a rebuild).
    new_documents: set[tuple[str, str]] = field(default_factory=set)


def parse_position(position: str) -> tuple[int, int] | None:
    """'topic/partition/offset' -> (partition, offset)."""
    parts = position.rsplit("/", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])


def document_keys(records: Sequence[LogRecord]) -> list[tuple[str, str]]:
    """The documents a batch touches (rejections touch none)."""
    keys = {(r.record["tenant"], r.record["document_id"]) for r in records if r.name != "CommandRejected"}
    return sorted(keys)


def plan_batch(records: Sequence[LogRecord], version_of: Callable[[str, str], int]) -> BatchPlan:
    """`version_of` gives the version the indexes hold (0 for none) before this batch."""
    plan = BatchPlan()
    pending: dict[tuple[str, str], int] = {}
    for rec in records:
        plan.next_offsets[(rec.topic, rec.partition)] = rec.offset + 1
        position = parse_position(str(rec.record.get("command_position", "")))
        if position is not None:
            # Per lane: the lanes arrive out of order with each other (ragstream.topics.position_key).
            lane_key = position_key(position[0], header_lane(rec.headers))
            plan.command_positions[lane_key] = max(plan.command_positions.get(lane_key, -1), position[1])
        if rec.name == "CommandRejected":
            continue
        key = (rec.record["tenant"], rec.record["document_id"])
        version = int(rec.record["version"])
        if version <= (pending.get(key) or version_of(*key)):
            plan.skipped += 1
            continue
        if key in pending:
            plan.new_documents.discard(key)  # applied twice here: the second write replaces the first
        elif version_of(*key) == 0:
            plan.new_documents.add(key)
        pending[key] = version
        plan.to_apply.append(rec)
        plan.applied.append((*key, version, rec.name == "DocumentDeleted"))
    return plan


def to_chunks(record: Mapping[str, Any]) -> list[IndexedChunk]:
    return [
        IndexedChunk(
            tenant=record["tenant"],
            document_id=record["document_id"],
            version=int(record["content_version"]),
            chunk_number=int(c["chunk_number"]),
            text=c["text"],
            title=record["title"],
            start=int(c["start"]),
            end=int(c["end"]),
            metadata=dict(record["metadata"]),
            acl=list(record["acl"]),
            vector=c["vector"],
            location=str(c.get("location") or ""),
        )
        for c in record["chunks"]
    ]


def apply_records(
    records: Sequence[LogRecord],
    indexes: Sequence[SearchIndex],
    new_documents: Set[tuple[str, str]] = frozenset(),
) -> None:
    """Apply records in order. Consecutive DocumentEmbedded records of distinct documents go to each
    index as one `replace_documents` call (one bulk write where the backend has one)."""
    run: list[DocumentChunks] = []
    # The run's documents, so a repeat is found in constant time (a rebuild's runs are thousands).
    in_run: set[tuple[str, str]] = set()

    def write_run() -> None:
        for index in indexes:
            index.replace_documents(run)
        run.clear()
        in_run.clear()

    for rec in records:
        r = rec.record
        key = tenant, document_id = r["tenant"], r["document_id"]
        if rec.name == "DocumentEmbedded":
            if key in in_run:
                write_run()  # the same document twice: the later write must follow the earlier
            in_run.add(key)
            run.append(DocumentChunks(tenant, document_id, to_chunks(r), key in new_documents))
            continue
        write_run()
        for index in indexes:
            if rec.name == "DocumentDeleted":
                index.delete_document(tenant, document_id, int(r["version"]))
            elif rec.name == "DocumentAccessUpdated":
                index.update_access(tenant, document_id, dict(r["metadata"]), list(r["acl"]))
    write_run()
