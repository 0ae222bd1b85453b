"""The topic catalogue: every topic ragstream uses, with its partitioning and retention.

Keys are `tenant/document_id` on every document topic, so one document's changes stay in one
partition, in order, end to end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ragstream.settings import KafkaSettings


class Cleanup(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    purpose: str
    cleanup: Cleanup = Cleanup.DELETE
    # -1: kept forever; the log is the source of truth for replay, rebuild and audit.
    retention_ms: int = -1
    extra: dict[str, str] = field(default_factory=dict)

    def config(self, settings: KafkaSettings) -> dict[str, str]:
        cfg = {
            "cleanup.policy": self.cleanup.value,
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(settings.max_message_bytes),
        }
        cfg.update(self.extra)
        return cfg


@dataclass(frozen=True)
class Topics:
    commands: TopicSpec
    events: TopicSpec
    chunks: TopicSpec
    bulk_chunks: TopicSpec
    embeddings: TopicSpec
    dlq: TopicSpec
    generations: TopicSpec
    cdc_prefix: str

    def all(self) -> list[TopicSpec]:
        return [
            self.commands, self.events, self.chunks, self.bulk_chunks, self.embeddings, self.dlq,
            self.generations,
        ]  # fmt: skip

    def chunks_of(self, lane: Lane) -> TopicSpec:
        return self.bulk_chunks if lane is Lane.BULK else self.chunks

    def generation_embeddings(self, generation_id: str) -> TopicSpec:
        """The embeddings of a generation built with another chunker or model than the workers' own."""
        return TopicSpec(
            f"{self.embeddings.name}.{generation_id}",
            f"DocumentEmbedded of embedding generation {generation_id}, plus pass-through deletes/ACL changes",
        )


def catalogue(prefix: str) -> Topics:
    return Topics(
        commands=TopicSpec(
            f"{prefix}.document-commands", "UpsertDocument, DeleteDocument, UpdateDocumentAccess"
        ),
        events=TopicSpec(
            f"{prefix}.document-events",
            "DocumentUpserted, DocumentDeleted, DocumentAccessUpdated, CommandRejected (audit trail)",
        ),
        chunks=TopicSpec(
            f"{prefix}.document-chunks", "DocumentChunked plus pass-through deletes/ACL changes"
        ),
        bulk_chunks=TopicSpec(
            f"{prefix}.document-chunks.bulk",
            "the bulk lane's chunks (commands marked bulk): embedded when the interactive lane is idle",
        ),
        embeddings=TopicSpec(
            f"{prefix}.document-embeddings",
            "DocumentEmbedded plus pass-through deletes/ACL changes; rebuilds read this, no re-embedding",
        ),
        dlq=TopicSpec(
            f"{prefix}.dead-letters",
            "records no processor could handle, with error and origin in headers",
            retention_ms=30 * 24 * 3600 * 1000,
        ),
        generations=TopicSpec(
            f"{prefix}.embedding-generations",
            "RequestEmbeddingGeneration, EmbeddingGenerationFailed (keyed by generation id)",
            cleanup=Cleanup.COMPACT,
        ),
        cdc_prefix=f"{prefix}.cdc",
    )


def document_key(tenant: str, document_id: str) -> bytes:
    return f"{tenant}/{document_id}".encode()


class Lane(StrEnum):
    """Which queue a document change waits in before the model. A bulk import's chunks wait in a
    topic of their own, so an edit written after them is embedded first instead of behind them."""

    INTERACTIVE = "interactive"
    BULK = "bulk"


# On a command: the lane its producer asked for (unmarked means interactive, so old producers keep
# working). Carried onto its event, chunks and embeddings, where it says which lane's read-your-writes
# position the command advances.
LANE_HEADER = "ragstream-lane"
# On an event routed to another lane than its command asked for (an access change following its
# document's content into the bulk lane, so it cannot overtake that content).
ROUTE_HEADER = "ragstream-route"
Headers = Mapping[str, bytes | str] | Iterable[tuple[str, bytes | str]] | None


def header_lane(headers: Headers, name: str = LANE_HEADER) -> Lane:
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, value in pairs:
        if key == name:
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            return Lane.BULK if text == Lane.BULK.value else Lane.INTERACTIVE
    return Lane.INTERACTIVE


def position_key(partition: int, lane: Lane) -> int:
    """The key of a read-your-writes position: the commands partition itself for the interactive
    lane, -(partition + 1) for the bulk lane.

    The lanes reach the read models in different orders (an edit overtakes the bulk import written
    before it), so each lane has its own "applied up to" position per partition. Negative keys let
    both live in every place positions were already kept as partition -> offset (token, SQLite,
    PostgreSQL, the query node's watch) without a second column.
    """
    return -(partition + 1) if lane is Lane.BULK else partition


def key_lane(key: int) -> tuple[int, Lane]:
    """position_key's inverse: (partition, lane)."""
    return (-key - 1, Lane.BULK) if key < 0 else (key, Lane.INTERACTIVE)


def key_name(key: int) -> str:
    """A position key as people read it: `3` (interactive lane) or `3:bulk`."""
    partition, lane = key_lane(key)
    return f"{partition}:{lane.value}" if lane is Lane.BULK else str(partition)
