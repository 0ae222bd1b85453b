"""The daily write quota: request-body bytes per tenant per UTC day, in PostgreSQL so every command
API replica draws from the same allowance."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from ragstream.http.ratelimit import QuotaExceeded
from ragstream.postgres import TRANSIENT, connect_pool, ping
from ragstream.settings import PostgresSettings

log = logging.getLogger("ragstream.commands.quota")
SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.write_quota (
    tenant text   NOT NULL,
    day    date   NOT NULL,
    bytes  bigint NOT NULL,
    PRIMARY KEY (tenant, day)
);
"""


class QuotaUnavailable(Exception):
    """PostgreSQL cannot be asked: the write is refused (503) rather than let through unmetered."""


def seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()) + 1)


class WriteQuota:
    def __init__(self, pool: asyncpg.Pool, schema: str, bytes_per_day: int) -> None:
        self._pool = pool
        self._s = schema
        self.bytes_per_day = bytes_per_day

    @classmethod
    async def connect(cls, settings: PostgresSettings, bytes_per_day: int) -> WriteQuota:
        pool = await connect_pool(settings, schemas=(SCHEMA,), min_size=1, max_size=4)
        quota = cls(pool, settings.schema_name, bytes_per_day)
        # Yesterday's counters are only needed until the day is over everywhere.
        await pool.execute(f"DELETE FROM {settings.schema_name}.write_quota WHERE day < current_date - 2")
        return quota

    async def ping(self) -> bool:
        return await ping(self._pool)

    async def close(self) -> None:
        await self._pool.close()

    async def charge(self, tenant: str, nbytes: int) -> None:
        """Adds `nbytes` to the tenant's count for today, or raises QuotaExceeded if that would pass
        the quota (and then counts nothing). One statement, so concurrent replicas cannot overshoot."""
        now = datetime.now(UTC)
        try:
            used = await self._pool.fetchval(
                f"""INSERT INTO {self._s}.write_quota AS q (tenant, day, bytes)
                    SELECT $1::text, $2::date, $3::bigint WHERE $3::bigint <= $4::bigint
                    ON CONFLICT (tenant, day) DO UPDATE SET bytes = q.bytes + $3::bigint
                    WHERE q.bytes + $3::bigint <= $4::bigint
                    RETURNING bytes""",
                tenant, now.date(), nbytes, self.bytes_per_day,
            )  # fmt: skip
        except (*TRANSIENT, asyncpg.PostgresError) as exc:
            log.warning("write quota of %s could not be checked: %s", tenant, exc)
            raise QuotaUnavailable("the write quota cannot be checked right now; retry shortly") from exc
        if used is None:
            raise QuotaExceeded(
                f"tenant {tenant} has used its {self.bytes_per_day} bytes of writes for today (UTC)",
                seconds_to_midnight(now),
            )
