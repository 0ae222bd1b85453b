"""PostgreSQL checks and cleanup around a CDC connector: is the table ready, and drop what it leaves.

A replication slot without a consumer makes PostgreSQL keep every WAL segment from then on, so deleting
a connector for good must drop its slot too.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg

from ragstream.streams.cdc.connector import Database
from ragstream.streams.cdc.mapping import CdcMapping

_TABLE_SQL = """
SELECT c.relreplident::text AS identity,
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
       ARRAY(SELECT a.attname::text FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = c.oid AND i.indisprimary) AS primary_key
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
"""


@dataclass(frozen=True)
class TableReport:
    wal_level: str
    exists: bool
    replica_identity: str = ""  # d: default (primary key), f: full, i: index, n: nothing
    columns: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()


async def _connect(db: Database) -> asyncpg.Connection:
    return await asyncpg.connect(**db.connect_kwargs(), timeout=10)


async def inspect_table(db: Database, schema: str, table: str) -> TableReport:
    conn = await _connect(db)
    try:
        wal_level = str(await conn.fetchval("SHOW wal_level"))
        row = await conn.fetchrow(_TABLE_SQL, schema, table)
    finally:
        await conn.close()
    if row is None:
        return TableReport(wal_level, exists=False)
    return TableReport(wal_level, True, row["identity"], tuple(row["columns"]), tuple(row["primary_key"]))


def readiness(mapping: CdcMapping, report: TableReport) -> tuple[list[str], list[str]]:
    """(errors, warnings): errors stop the connector or dead-letter every change, warnings some of them."""
    errors: list[str] = []
    warnings: list[str] = []
    if report.wal_level != "logical":
        errors.append(
            f"wal_level is {report.wal_level!r}; logical decoding needs wal_level=logical (and a restart)"
        )
    if not report.exists:
        errors.append(f"table {mapping.table} does not exist")
        return errors, warnings
    doc = mapping.document
    sources = [doc.id, doc.content, doc.content_type, doc.tenant, doc.title, doc.acl, doc.version,
               *doc.metadata.values()]  # fmt: skip
    missing = sorted(
        {s.column for s in sources if s is not None and s.column and s.column not in report.columns}
    )
    if missing:
        errors.append(f"{mapping.table} has no column {', '.join(missing)}")
    if report.replica_identity != "f":
        fix = f"ALTER TABLE {mapping.table} REPLICA IDENTITY FULL"
        outside_key = [c for c in doc.identity_columns() if c not in report.primary_key]
        if outside_key:
            # Not a warning: Debezium fills the missing columns of a delete with column defaults, so a
            # delete could silently name another tenant or document.
            errors.append(
                f"deletes carry only the primary key ({', '.join(report.primary_key) or 'none'}), not "
                f"{', '.join(outside_key)}, so they cannot be mapped; run `{fix}`"
            )
        warnings.append(
            f"updates that leave a large (TOASTed) value unchanged arrive without it and are dead-lettered; "
            f"run `{fix}`"
        )
    return errors, warnings


async def set_replica_identity_full(db: Database, schema: str, table: str) -> None:
    conn = await _connect(db)
    try:
        await conn.execute(f"ALTER TABLE {_quote(schema)}.{_quote(table)} REPLICA IDENTITY FULL")
    finally:
        await conn.close()


async def drop_slot(db: Database, slot: str, publication: str | None = None, timeout: float = 30.0) -> bool:
    """Drops the replication slot (waiting for a stopping connector to let go of it) and the publication.

    True when a slot was dropped. A slot still held after `timeout` has lost its connector, so its
    walsender is terminated.
    """
    conn = await _connect(db)
    dropped = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            row = await conn.fetchrow(
                "SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = $1", slot
            )
            if row is None:
                break
            if not row["active"]:
                try:
                    await conn.execute("SELECT pg_drop_replication_slot($1)", slot)
                    dropped = True
                    break
                except asyncpg.ObjectInUseError:
                    pass  # the walsender grabbed it again between the check and the drop
            elif time.monotonic() > deadline:
                await conn.execute("SELECT pg_terminate_backend($1)", row["active_pid"])
            await asyncio.sleep(0.5)
        if publication:
            await conn.execute(f"DROP PUBLICATION IF EXISTS {_quote(publication)}")
    finally:
        await conn.close()
    return dropped


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
