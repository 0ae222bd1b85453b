"""PostgreSQL for every side: one way to open a pool, apply a schema file and ride out outages.

Back-pressure instead of data loss: while PostgreSQL is unreachable, a projection waits and
retries with exponential backoff (tenacity) rather than skipping or crashing its partition.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg
from prometheus_client import Counter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from ragstream.settings import PostgresSettings

log = logging.getLogger("ragstream.registry")
RETRIES = Counter(
    "ragstream_registry_retries_total", "PostgreSQL operations retried after a connection failure"
)
P = ParamSpec("P")
T = TypeVar("T")

TRANSIENT = (
    OSError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    # Concurrent projections touching the same rows: PostgreSQL aborts one of them; retry it.
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)
# Long enough to ride out a database restart or failover; after that the worker fails loudly.
MAX_OUTAGE_S = 600.0


_log_retry = before_sleep_log(log, logging.WARNING)


def _before_sleep(state: RetryCallState) -> None:
    RETRIES.inc()
    _log_retry(state)


def retrying(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT),
            wait=wait_exponential_jitter(initial=0.2, max=5.0),
            stop=stop_after_delay(MAX_OUTAGE_S),
            before_sleep=_before_sleep,
            reraise=True,
        ):
            with attempt:
                return await fn(*args, **kwargs)
        raise AssertionError("unreachable")  # AsyncRetrying either returns or re-raises

    wrapper.__name__ = getattr(fn, "__name__", "retrying")
    wrapper.__doc__ = fn.__doc__
    return wrapper


@retrying
async def connect_pool(
    settings: PostgresSettings, *, schemas: tuple[str, ...] = (), min_size: int = 1, max_size: int = 5
) -> asyncpg.Pool:
    """A pool on the configured database, with each schema script applied (idempotently) first."""
    pool = await asyncpg.create_pool(
        settings.dsn(),
        min_size=min_size,
        max_size=max_size,
        server_settings={"application_name": "ragstream"},
    )
    assert pool is not None
    try:
        for script in schemas:
            await apply_schema(pool, settings.schema_name, script)
    except BaseException:
        await pool.close()
        raise
    return pool


async def apply_schema(pool: asyncpg.Pool, schema: str, script: str) -> None:
    """Runs a schema script (`{schema}` replaced by the configured schema); every statement in it is
    `CREATE ... IF NOT EXISTS`, so start-ups apply it again harmlessly."""
    sql = script.replace("{schema}", schema)
    # The advisory lock serialises concurrent start-ups: CREATE ... IF NOT EXISTS races otherwise.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
        await conn.execute(sql)


async def ping(pool: asyncpg.Pool) -> bool:
    try:
        await pool.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return True


def storable_text(text: str, limit: int) -> str:
    """`text` as a PostgreSQL text column can hold it: NUL (which text cannot store) written as the
    four characters `\\x00`, and at most `limit` characters, escapes included (text from a record can
    be anything, and a row should not carry megabytes of it)."""
    return text[:limit].replace("\x00", "\\x00")[:limit]
