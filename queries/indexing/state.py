"""Projection state stored next to the index data it describes (SQLite in the generation folder):
which version of each document the indexes hold, and the log offsets already applied.

Written after the indexes are flushed, so after a crash the log is re-applied from the last stored
offset; that is safe because applying the same event twice leaves the same index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path


class ProjectionState:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS documents (
                tenant TEXT NOT NULL, document_id TEXT NOT NULL, version INTEGER NOT NULL,
                deleted INTEGER NOT NULL, PRIMARY KEY (tenant, document_id));
            CREATE TABLE IF NOT EXISTS offsets (
                topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
                PRIMARY KEY (topic, partition));
            CREATE TABLE IF NOT EXISTS command_positions (
                partition INTEGER PRIMARY KEY, offset INTEGER NOT NULL);
            """
        )

    def version(self, tenant: str, document_id: str) -> int:
        row = self._db.execute(
            "SELECT version FROM documents WHERE tenant=? AND document_id=?", (tenant, document_id)
        ).fetchone()
        return int(row[0]) if row else 0

    def next_offsets(self, topic: str) -> dict[int, int]:
        rows = self._db.execute("SELECT partition, next_offset FROM offsets WHERE topic=?", (topic,))
        return {int(p): int(o) for p, o in rows}

    def command_positions(self) -> dict[int, int]:
        return {
            int(p): int(o) for p, o in self._db.execute("SELECT partition, offset FROM command_positions")
        }

    def count_documents(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM documents WHERE deleted=0").fetchone()[0])

    def commit(
        self,
        versions: Iterable[tuple[str, str, int, bool]],
        offsets: dict[tuple[str, int], int],
        command_positions: dict[int, int],
    ) -> None:
        """One SQLite transaction: versions and offsets move together."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO documents VALUES (?,?,?,?) ON CONFLICT (tenant, document_id) DO UPDATE"
                " SET version=excluded.version, deleted=excluded.deleted WHERE excluded.version > documents.version",
                [(t, d, v, int(x)) for t, d, v, x in versions],
            )
            self._db.executemany(
                "INSERT INTO offsets VALUES (?,?,?) ON CONFLICT (topic, partition) DO UPDATE"
                " SET next_offset=max(next_offset, excluded.next_offset)",
                [(t, p, o) for (t, p), o in offsets.items()],
            )
            self._db.executemany(
                "INSERT INTO command_positions VALUES (?,?) ON CONFLICT (partition) DO UPDATE"
                " SET offset=max(offset, excluded.offset)",
                list(command_positions.items()),
            )

    def close(self) -> None:
        self._db.close()
