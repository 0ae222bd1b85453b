"""Document registry, audit trail and projection bookkeeping in PostgreSQL (asyncpg)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from ragstream.postgres import connect_pool, ping, retrying
from ragstream.settings import PostgresSettings

SCHEMA = Path(__file__).with_name("schema.sql").read_text()


@dataclass(frozen=True)
class ReadModelVersion:
    """The version of a document a read model holds."""

    version: int
    deleted: bool
    applied_at: datetime


@dataclass(frozen=True)
class DocumentRecord:
    tenant: str
    document_id: str
    version: int
    status: str
    title: str
    content_type: str
    content_hash: str
    metadata: dict[str, str]
    acl: list[str]
    created_at: datetime
    updated_at: datetime
    updated_by: str
    read_models: dict[str, ReadModelVersion] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A command dead-lettered on its way to the read models, as the audit trail records it."""

    tenant: str
    document_id: str
    command_id: str
    event_id: str  # deterministic: one entry per refusal however often it is dead-lettered
    event_type: str
    reason: str
    version: int | None
    actor: str
    time: datetime


@dataclass(frozen=True)
class AuditEntry:
    command_id: str
    event_type: str
    outcome: str
    reason: str
    version: int | None
    actor: str
    source: dict[str, str]
    event_time: datetime
    recorded_time: datetime
    command_position: str


class RegistryStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._s = schema

    @classmethod
    async def connect(
        cls, settings: PostgresSettings, *, min_size: int = 1, max_size: int = 5
    ) -> RegistryStore:
        pool = await connect_pool(settings, schemas=(SCHEMA,), min_size=min_size, max_size=max_size)
        return cls(pool, settings.schema_name)

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    @property
    def schema(self) -> str:
        return self._s

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> bool:
        return await ping(self._pool)

    # --- the registry projection -------------------------------------------------------------------

    @retrying
    async def apply_event(
        self,
        name: str,
        record: Mapping[str, Any],
        *,
        projection: str,
        topic: str,
        partition: int,
        offset: int,
    ) -> bool:
        """Apply one document event exactly once: the offset is stored in the same transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._claim(conn, projection, topic, partition, offset):
                return False
            await self._apply(conn, name, record)
            return True

    @retrying
    async def record_failure(
        self, failure: Failure, *, projection: str, topic: str, partition: int, offset: int
    ) -> bool:
        """A command's `failed` entry, once per dead letter (its offset stored in the same
        transaction; a second dead letter of the same refusal makes no second entry either)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._claim(conn, projection, topic, partition, offset):
                return False
            await conn.execute(
                f"""INSERT INTO {self._s}.audit_log (tenant, document_id, command_id, event_id, event_type,
                        outcome, reason, version, actor, source, event_time, recorded_time)
                    VALUES ($1,$2,$3,$4,$5,'failed',$6,$7,$8,'{{}}'::jsonb,$9,$9) ON CONFLICT (event_id) DO NOTHING""",
                failure.tenant, failure.document_id, failure.command_id, failure.event_id, failure.event_type,
                failure.reason, failure.version, failure.actor, failure.time,
            )  # fmt: skip
            return True

    async def _claim(
        self, conn: asyncpg.Connection, projection: str, topic: str, partition: int, offset: int
    ) -> bool:
        """Whether this record is new to the projection; if so its offset is stored (in the caller's
        transaction, which holds the row locked until it commits)."""
        applied = await conn.fetchval(
            f'SELECT "offset" FROM {self._s}.projection_offsets WHERE projection=$1 AND topic=$2 AND partition=$3'
            " FOR UPDATE",
            projection, topic, partition,
        )  # fmt: skip
        if applied is not None and applied >= offset:
            return False
        await conn.execute(
            f'INSERT INTO {self._s}.projection_offsets (projection, topic, partition, "offset")'
            ' VALUES ($1,$2,$3,$4) ON CONFLICT (projection, topic, partition) DO UPDATE SET "offset"=$4',
            projection, topic, partition, offset,
        )  # fmt: skip
        return True

    async def _apply(self, conn: asyncpg.Connection, name: str, r: Mapping[str, Any]) -> None:
        if name == "DocumentUpserted":
            await conn.execute(
                f"""INSERT INTO {self._s}.documents AS d (tenant, document_id, version, status, title, content_type,
                        content_hash, metadata, acl, created_at, updated_at, updated_by)
                    VALUES ($1,$2,$3,'active',$4,$5,$6,$7::jsonb,$8,$9,$9,$10)
                    ON CONFLICT (tenant, document_id) DO UPDATE SET version=$3, status='active', title=$4,
                        content_type=$5, content_hash=$6, metadata=$7::jsonb, acl=$8, updated_at=$9, updated_by=$10
                    WHERE d.version < $3""",
                r["tenant"], r["document_id"], r["version"], r["title"], r["content_type"], r["content_hash"],
                json.dumps(r["metadata"]), list(r["acl"]), r["recorded_time"], r["actor"],
            )  # fmt: skip
        elif name == "DocumentDeleted":
            await conn.execute(
                f"UPDATE {self._s}.documents SET status='deleted', version=$3, updated_at=$4, updated_by=$5"
                " WHERE tenant=$1 AND document_id=$2 AND version < $3",
                r["tenant"], r["document_id"], r["version"], r["recorded_time"], r["actor"],
            )  # fmt: skip
        elif name == "DocumentAccessUpdated":
            await conn.execute(
                f"UPDATE {self._s}.documents SET metadata=$3::jsonb, acl=$4, version=$5, updated_at=$6, updated_by=$7"
                " WHERE tenant=$1 AND document_id=$2 AND version < $5",
                r["tenant"], r["document_id"], json.dumps(r["metadata"]), list(r["acl"]), r["version"],
                r["recorded_time"], r["actor"],
            )  # fmt: skip
        await self._audit(conn, name, r)

    async def _audit(self, conn: asyncpg.Connection, name: str, r: Mapping[str, Any]) -> None:
        rejected = name == "CommandRejected"
        await conn.execute(
            f"""INSERT INTO {self._s}.audit_log (tenant, document_id, command_id, event_id, event_type, outcome,
                    reason, version, actor, source, event_time, recorded_time, command_position)
                VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb,$11,$12,$13) ON CONFLICT (event_id) DO NOTHING""",
            r["tenant"], r["document_id"], r["command_id"], r["event_id"],
            r["command_type"] if rejected else name, "rejected" if rejected else "accepted",
            r["reason"] if rejected else "", r.get("current_version") if rejected else r["version"],
            r["actor"], json.dumps(r.get("source") or {}), r["event_time"], r["recorded_time"],
            r.get("command_position", ""),
        )  # fmt: skip

    # --- read side --------------------------------------------------------------------------------

    async def get_document(self, tenant: str, document_id: str) -> DocumentRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT * FROM {self._s}.documents WHERE tenant=$1 AND document_id=$2", tenant, document_id
        )
        if row is None:
            return None
        models = await self._pool.fetch(
            f"SELECT read_model, version, deleted, applied_at FROM {self._s}.read_model_versions"
            " WHERE tenant=$1 AND document_id=$2",
            tenant,
            document_id,
        )
        return DocumentRecord(
            tenant=row["tenant"],
            document_id=row["document_id"],
            version=row["version"],
            status=row["status"],
            title=row["title"],
            content_type=row["content_type"],
            content_hash=row["content_hash"],
            metadata=json.loads(row["metadata"]),
            acl=list(row["acl"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            updated_by=row["updated_by"],
            read_models={
                m["read_model"]: ReadModelVersion(m["version"], m["deleted"], m["applied_at"]) for m in models
            },
        )

    async def history(self, tenant: str, document_id: str) -> list[AuditEntry]:
        rows = await self._pool.fetch(
            f"SELECT * FROM {self._s}.audit_log WHERE tenant=$1 AND document_id=$2 ORDER BY id",
            tenant,
            document_id,
        )
        return [_audit_entry(r) for r in rows]

    async def command_outcome(self, tenant: str, document_id: str, command_id: str) -> AuditEntry | None:
        """What became of one command on the document, once the registry has recorded it; a failure
        first, since its entry may be written before or after the command's acceptance (another
        projection writes it)."""
        row = await self._pool.fetchrow(
            f"SELECT * FROM {self._s}.audit_log WHERE tenant=$1 AND document_id=$2 AND command_id=$3"
            " ORDER BY outcome = 'failed' DESC, id DESC LIMIT 1",
            tenant,
            document_id,
            command_id,
        )
        return None if row is None else _audit_entry(row)

    async def count_documents(self, tenant: str | None = None, status: str = "active") -> int:
        if tenant is None:
            value = await self._pool.fetchval(
                f"SELECT count(*) FROM {self._s}.documents WHERE status=$1", status
            )
        else:
            value = await self._pool.fetchval(
                f"SELECT count(*) FROM {self._s}.documents WHERE status=$1 AND tenant=$2", status, tenant
            )
        return int(value)

    # --- read-model bookkeeping -------------------------------------------------------------------

    @retrying
    async def record_read_model_versions(
        self, read_model: str, items: Iterable[tuple[str, str, int, bool]]
    ) -> None:
        # Sorted: every writer locks rows in the same order, so concurrent ones cannot deadlock.
        rows = sorted(items)
        if not rows:
            return
        await self._pool.executemany(
            f"""INSERT INTO {self._s}.read_model_versions AS v (tenant, document_id, read_model, version, deleted)
                VALUES ($1,$2,$5,$3,$4)
                ON CONFLICT (tenant, document_id, read_model) DO UPDATE SET version=$3, deleted=$4, applied_at=now()
                WHERE v.version <= $3""",
            [(t, d, v, deleted, read_model) for t, d, v, deleted in rows],
        )


def _audit_entry(r: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        command_id=r["command_id"],
        event_type=r["event_type"],
        outcome=r["outcome"],
        reason=r["reason"],
        version=r["version"],
        actor=r["actor"],
        source=json.loads(r["source"]),
        event_time=r["event_time"],
        recorded_time=r["recorded_time"],
        command_position=r["command_position"],
    )
