"""The topic catalogue: every topic ragstream uses, with its partitioning and retention.

Keys are `tenant/document_id` on every document topic, so one document's changes stay in one
partition, in order, end to end.
"""

from __future__ import annotations

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
    embeddings: TopicSpec
    dlq: TopicSpec
    generations: TopicSpec
    cdc_prefix: str

    def all(self) -> list[TopicSpec]:
        return [self.commands, self.events, self.chunks, self.embeddings, self.dlq, self.generations]

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
