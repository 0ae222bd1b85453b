"""Webhook subscriptions per tenant and their signing secrets, in PostgreSQL.

A secret is shown once (at creation and at rotation) and stored sealed (vault.py). Rotating keeps
the previous secret signing for an overlap, so receivers can switch without losing a delivery.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ragstream.queries.notifications.signing import new_secret
from ragstream.queries.notifications.vault import SecretVault


class TooManySubscriptions(Exception):
    pass


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant: str
    url: str
    events: list[str]
    description: str
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    # When the previous secret stops signing, while a rotation overlaps; None: one secret signs.
    previous_secret_expires_at: datetime | None = None


_SELECT = """SELECT s.*, (SELECT max(expires_at) FROM {s}.webhook_secrets w
                         WHERE w.subscription_id = s.id AND w.expires_at > now()) AS previous_expires
             FROM {s}.webhook_subscriptions s"""


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"], tenant=row["tenant"], url=row["url"], events=list(row["events"]),
        description=row["description"], active=row["active"], created_at=row["created_at"],
        created_by=row["created_by"], updated_at=row["updated_at"],
        previous_secret_expires_at=row["previous_expires"],
    )  # fmt: skip


class SubscriptionStore:
    def __init__(self, pool: asyncpg.Pool, schema: str, vault: SecretVault, max_per_tenant: int = 25) -> None:
        self._pool = pool
        self._s = schema
        self._vault = vault
        self._max = max_per_tenant
        self._select = _SELECT.format(s=schema)

    async def create(
        self, tenant: str, url: str, events: Sequence[str], description: str, created_by: str
    ) -> tuple[Subscription, str]:
        """The new subscription and its secret (the only time the secret is shown)."""
        subscription_id = "wh_" + random.token_hex(8)
        secret = new_secret()
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises creations per tenant, so the limit holds under concurrent requests.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"webhooks/{tenant}")
            count = await conn.fetchval(
                f"SELECT count(*) FROM {self._s}.webhook_subscriptions WHERE tenant=$1", tenant
            )
            if count >= self._max:
                raise TooManySubscriptions(f"tenant {tenant!r} already has {self._max} webhook subscriptions")
            await conn.execute(
                f"""INSERT INTO {self._s}.webhook_subscriptions (id, tenant, url, events, description, created_by)
                    VALUES ($1,$2,$3,$4,$5,$6)""",
                subscription_id, tenant, url, list(events), description, created_by,
            )  # fmt: skip
            await conn.execute(
                f"INSERT INTO {self._s}.webhook_secrets (subscription_id, secret_id, sealed) VALUES ($1, 1, $2)",
                subscription_id,
                self._vault.seal(secret, subscription_id),
            )
        found = await self.get(tenant, subscription_id)
        assert found is not None
        return found, secret

    async def all(self, tenant: str) -> list[Subscription]:
        rows = await self._pool.fetch(f"{self._select} WHERE s.tenant=$1 ORDER BY s.created_at, s.id", tenant)
        return [_subscription(r) for r in rows]

    async def get(self, tenant: str, subscription_id: str) -> Subscription | None:
        row = await self._pool.fetchrow(
            f"{self._select} WHERE s.tenant=$1 AND s.id=$2", tenant, subscription_id
        )
        return None if row is None else _subscription(row)

    async def update(
        self,
        tenant: str,
        subscription_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> Subscription | None:
        status: str = await self._pool.execute(
            f"""UPDATE {self._s}.webhook_subscriptions SET url=coalesce($3, url),
                    events=coalesce($4, events), description=coalesce($5, description),
                    active=coalesce($6, active), updated_at=now()
                WHERE tenant=$1 AND id=$2""",
            tenant, subscription_id, url, None if events is None else list(events), description, active,
        )  # fmt: skip
        return await self.get(tenant, subscription_id) if status.endswith(" 1") else None

    async def delete(self, tenant: str, subscription_id: str) -> bool:
        status: str = await self._pool.execute(
            f"DELETE FROM {self._s}.webhook_subscriptions WHERE tenant=$1 AND id=$2", tenant, subscription_id
        )
        return status.endswith(" 1")

    async def rotate(
        self, tenant: str, subscription_id: str, overlap_s: float
    ) -> tuple[Subscription, str] | None:
        """A new current secret; the current one keeps signing for `overlap_s` (an older one, still
        overlapping from a previous rotation, stops now: never more than two secrets sign)."""
        secret = new_secret()
        async with self._pool.acquire() as conn, conn.transaction():
            owner = await conn.fetchval(
                f"SELECT tenant FROM {self._s}.webhook_subscriptions WHERE id=$1 FOR UPDATE", subscription_id
            )
            if owner != tenant:
                return None
            await conn.execute(
                f"DELETE FROM {self._s}.webhook_secrets WHERE subscription_id=$1 AND expires_at IS NOT NULL",
                subscription_id,
            )
            await conn.execute(
                f"""UPDATE {self._s}.webhook_secrets SET expires_at = now() + make_interval(secs => $2)
                    WHERE subscription_id=$1 AND expires_at IS NULL""",
                subscription_id,
                overlap_s,
            )
            await conn.execute(
                f"""INSERT INTO {self._s}.webhook_secrets (subscription_id, secret_id, sealed)
                    SELECT $1, coalesce(max(secret_id), 0) + 1, $2 FROM {self._s}.webhook_secrets
                    WHERE subscription_id=$1""",
                subscription_id,
                self._vault.seal(secret, subscription_id),
            )
        found = await self.get(tenant, subscription_id)
        assert found is not None
        return found, secret

    async def signing_secrets(self, subscription_id: str) -> list[str]:
        """The secrets a delivery is signed with now, newest first."""
        rows = await self._pool.fetch(
            f"""SELECT sealed FROM {self._s}.webhook_secrets
                WHERE subscription_id=$1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY secret_id DESC""",
            subscription_id,
        )
        return [self._vault.open(r["sealed"], subscription_id) for r in rows]

    async def target(self, subscription_id: str) -> str | None:
        """Where an active subscription delivers; None once it is paused or deleted."""
        url: str | None = await self._pool.fetchval(
            f"SELECT url FROM {self._s}.webhook_subscriptions WHERE id=$1 AND active", subscription_id
        )
        return url
