"""The outbox of webhook deliveries in PostgreSQL, shared by every stream worker.

Notices are fanned out to the tenant's subscriptions that follow their kind, one delivery each,
deduplicated by notice id. A subscription's deliveries for one document go out one at a time in
log order: only the oldest unfinished one is due (claimed with a lease, `FOR UPDATE SKIP LOCKED`, so
workers share the work and a dead worker's claim passes to another when its lease ends).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ragstream.postgres import retrying
from ragstream.queries.notifications.notices import ALL, Notice
from ragstream.queries.notifications.outbound import Outcome

_DELIVERY = """id, subscription_id, tenant, notice_id, kind, document_id, version, body, state, attempts,
               created_at, next_attempt_at, finished_at, last_status, last_error"""
# Expired notices are not replayable: what they announced (a searchable version) never happened.
REPLAYABLE = ("dead",)


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    status: int | None
    error: str
    duration_ms: float
    response: str


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription_id: str
    tenant: str
    notice_id: str
    kind: str
    document_id: str
    version: int | None
    body: dict[str, Any]
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None
    last_status: int | None
    last_error: str
    log: list[Attempt] = field(default_factory=list)


def _delivery(row: asyncpg.Record, log: Sequence[Attempt] = ()) -> Delivery:
    values = dict(row)
    values["body"] = json.loads(values["body"])
    return Delivery(**values, log=list(log))


class Outbox:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._s = schema

    # --- filling it ---------------------------------------------------------------------------------

    @retrying
    async def enqueue_from_log(
        self, projection: str, topic: str, items: Sequence[tuple[int, int, Sequence[Notice]]]
    ) -> int:
        """(partition, offset, notices) of log records, applied once: the offsets are stored in the
        same transaction, and records at or below a stored offset are skipped. Returns deliveries made."""
        if not items:
            return 0
        made = 0
        async with self._pool.acquire() as conn, conn.transaction():
            partitions = sorted({p for p, _, _ in items})
            rows = await conn.fetch(
                f"""SELECT partition, "offset" FROM {self._s}.projection_offsets
                    WHERE projection=$1 AND topic=$2 AND partition = ANY($3::int[]) ORDER BY partition FOR UPDATE""",
                projection, topic, partitions,
            )  # fmt: skip
            applied = {int(r["partition"]): int(r["offset"]) for r in rows}
            latest: dict[int, int] = {}
            for partition, offset, notices in items:
                latest[partition] = max(latest.get(partition, -1), offset)
                if offset > applied.get(partition, -1):
                    made += await self._insert(conn, notices)
            await conn.executemany(
                f"""INSERT INTO {self._s}.projection_offsets AS o (projection, topic, partition, "offset")
                    VALUES ($1,$2,$3,$4) ON CONFLICT (projection, topic, partition)
                    DO UPDATE SET "offset"=GREATEST(o."offset", $4)""",
                [(projection, topic, p, o) for p, o in sorted(latest.items())],
            )
        return made

    @retrying
    async def enqueue(self, notices: Sequence[Notice]) -> int:
        """Notices that come from no log (jobs, connectors, pings), each delivered once by its id."""
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._insert(conn, notices)

    async def _insert(self, conn: asyncpg.Connection, notices: Sequence[Notice]) -> int:
        made = 0
        for n in notices:
            if n.ends_wait and n.version is not None:
                await self._end_wait(conn, n)
            status = await conn.execute(
                f"""INSERT INTO {self._s}.webhook_deliveries AS d (subscription_id, tenant, notice_id, kind,
                        document_id, version, body, state, last_error)
                    SELECT s.id, $1, $2, $3, $4, $5, $6::jsonb,
                           CASE WHEN NOT $7 THEN 'pending' WHEN e.version IS NULL THEN 'waiting' ELSE 'expired' END,
                           CASE WHEN e.version IS NULL THEN '' ELSE 'the version was dead-lettered' END
                    FROM {self._s}.webhook_subscriptions s
                    LEFT JOIN {self._s}.webhook_ended_waits e ON e.tenant=$1 AND e.document_id=$4 AND e.version=$5
                    WHERE s.tenant=$1 AND s.active AND ($3 = ANY(s.events) OR $8 = ANY(s.events))
                    ON CONFLICT (subscription_id, notice_id) DO NOTHING""",
                n.tenant, n.id, n.kind.value, n.document_id, n.version, json.dumps(n.body(), default=str),
                n.waits_for_read_models, ALL,
            )  # fmt: skip
            made += int(status.split()[-1])
        return made

    async def _end_wait(self, conn: asyncpg.Connection, n: Notice) -> None:
        # Remembered too, for a notice that waits for this version and is enqueued only later.
        await conn.execute(
            f"""INSERT INTO {self._s}.webhook_ended_waits (tenant, document_id, version) VALUES ($1,$2,$3)
                ON CONFLICT DO NOTHING""",
            n.tenant, n.document_id, n.version,
        )  # fmt: skip
        await conn.execute(
            f"""UPDATE {self._s}.webhook_deliveries SET state='expired', finished_at=now(),
                    last_error='the version was dead-lettered'
                WHERE state='waiting' AND tenant=$1 AND document_id=$2 AND version=$3""",
            n.tenant, n.document_id, n.version,
        )  # fmt: skip

    async def ping(self, notice: Notice, subscription_id: str) -> None:
        await self._pool.execute(
            f"""INSERT INTO {self._s}.webhook_deliveries (subscription_id, tenant, notice_id, kind, body, state)
                VALUES ($1,$2,$3,$4,$5::jsonb,'pending')""",
            subscription_id, notice.tenant, notice.id, notice.kind.value, json.dumps(notice.body(), default=str),
        )  # fmt: skip

    # --- the dispatcher's side ----------------------------------------------------------------------

    @retrying
    async def promote(self, read_models: Sequence[str], wait_s: float) -> int:
        """Waiting notices whose version every read model now holds become due; those that waited
        longer than `wait_s` are given up. Returns how many became due."""
        status = await self._pool.execute(
            f"""UPDATE {self._s}.webhook_deliveries d SET state='pending', next_attempt_at=now()
                WHERE d.state='waiting' AND (
                    SELECT count(*) FROM {self._s}.read_model_versions v
                    WHERE v.tenant=d.tenant AND v.document_id=d.document_id AND v.version >= d.version
                      AND v.read_model = ANY($1::text[])) = cardinality($1::text[])""",
            list(read_models),
        )
        await self._pool.execute(
            f"""UPDATE {self._s}.webhook_deliveries SET state='expired', finished_at=now(),
                    last_error='the read models did not hold the version in time'
                WHERE state='waiting' AND created_at < now() - make_interval(secs => $1)""",
            wait_s,
        )
        return int(status.split()[-1])

    @retrying
    async def due_subscriptions(self) -> list[str]:
        rows = await self._pool.fetch(
            f"""SELECT DISTINCT d.subscription_id FROM {self._s}.webhook_deliveries d
                JOIN {self._s}.webhook_subscriptions s ON s.id = d.subscription_id AND s.active
                WHERE d.state='pending' AND d.next_attempt_at <= now()
                  AND (d.leased_until IS NULL OR d.leased_until < now())"""
        )
        return [r["subscription_id"] for r in rows]

    @retrying
    async def claim(self, subscription_id: str, limit: int, lease_s: float) -> list[Delivery]:
        """Up to `limit` due deliveries of the subscription, each the oldest unfinished one of its
        document, leased to the caller for `lease_s`."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""WITH heads AS (
                        SELECT DISTINCT ON (document_id) id FROM {self._s}.webhook_deliveries
                        WHERE subscription_id=$1 AND state IN ('waiting', 'pending')
                        ORDER BY document_id, id)
                    SELECT {_DELIVERY} FROM {self._s}.webhook_deliveries d
                    WHERE d.id IN (SELECT id FROM heads) AND d.state='pending' AND d.next_attempt_at <= now()
                      AND (d.leased_until IS NULL OR d.leased_until < now())
                    ORDER BY d.id LIMIT $2 FOR UPDATE SKIP LOCKED""",
                subscription_id, limit,
            )  # fmt: skip
            if rows:
                await conn.execute(
                    f"""UPDATE {self._s}.webhook_deliveries SET leased_until = now() + make_interval(secs => $2)
                        WHERE id = ANY($1::bigint[])""",
                    [r["id"] for r in rows], lease_s,
                )  # fmt: skip
        return [_delivery(r) for r in rows]

    @retrying
    async def record(
        self, delivery: Delivery, outcome: Outcome, duration_ms: float, state: str, delay_s: float
    ) -> None:
        """One attempt's outcome; the delivery becomes `state` (pending again after `delay_s`)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""INSERT INTO {self._s}.webhook_attempts (delivery_id, status, error, duration_ms, response)
                    VALUES ($1,$2,$3,$4,$5)""",
                delivery.id, outcome.status, outcome.error, duration_ms, outcome.excerpt,
            )  # fmt: skip
            await conn.execute(
                f"""UPDATE {self._s}.webhook_deliveries SET state=$2, attempts=attempts + 1, leased_until=NULL,
                        next_attempt_at = now() + make_interval(secs => $3), last_status=$4, last_error=$5,
                        finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END
                    WHERE id=$1""",
                delivery.id, state, delay_s, outcome.status, outcome.error,
            )  # fmt: skip

    @retrying
    async def connector_changed(self, connector: str, state: str) -> bool:
        """Records a connector's state; True for the one caller whose poll saw it change."""
        row = await self._pool.fetchrow(
            f"""INSERT INTO {self._s}.connector_states AS c (connector, state) VALUES ($1,$2)
                ON CONFLICT (connector) DO UPDATE SET state=$2, changed_at=now() WHERE c.state <> $2
                RETURNING connector""",
            connector,
            state,
        )
        return row is not None

    @retrying
    async def prune(self, retention_days: int) -> int:
        status = await self._pool.execute(
            f"""DELETE FROM {self._s}.webhook_deliveries
                WHERE state IN ('delivered', 'dead', 'expired') AND finished_at < now() - make_interval(days => $1)""",
            retention_days,
        )
        await self._pool.execute(
            f"DELETE FROM {self._s}.webhook_ended_waits WHERE at < now() - make_interval(days => $1)",
            retention_days,
        )
        return int(status.split()[-1])

    # --- the API's side -----------------------------------------------------------------------------

    async def deliveries(
        self, subscription_id: str, *, state: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[Delivery]:
        """The delivery log, newest first, each with its attempts."""
        rows = await self._pool.fetch(
            f"""SELECT {_DELIVERY} FROM {self._s}.webhook_deliveries
                WHERE subscription_id=$1 AND ($2::text IS NULL OR state=$2) AND ($3::bigint IS NULL OR id < $3)
                ORDER BY id DESC LIMIT $4""",
            subscription_id, state, before, limit,
        )  # fmt: skip
        attempts = await self._pool.fetch(
            f"""SELECT delivery_id, attempted_at, status, error, duration_ms, response
                FROM {self._s}.webhook_attempts WHERE delivery_id = ANY($1::bigint[]) ORDER BY id""",
            [r["id"] for r in rows],
        )
        by_delivery: dict[int, list[Attempt]] = {}
        for a in attempts:
            by_delivery.setdefault(a["delivery_id"], []).append(
                Attempt(a["attempted_at"], a["status"], a["error"], a["duration_ms"], a["response"])
            )
        return [_delivery(r, by_delivery.get(r["id"], ())) for r in rows]

    async def replay(self, subscription_id: str, delivery_ids: Sequence[int] | None) -> int:
        """Dead deliveries due again, from a first attempt; all of them, or those given."""
        status = await self._pool.execute(
            f"""UPDATE {self._s}.webhook_deliveries SET state='pending', attempts=0, next_attempt_at=now(),
                    leased_until=NULL, finished_at=NULL
                WHERE subscription_id=$1 AND state = ANY($2::text[])
                  AND ($3::bigint[] IS NULL OR id = ANY($3::bigint[]))""",
            subscription_id, list(REPLAYABLE), None if delivery_ids is None else list(delivery_ids),
        )  # fmt: skip
        return int(status.split()[-1])
