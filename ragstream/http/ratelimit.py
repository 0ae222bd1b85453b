"""Token buckets per tenant and per credential.

Kept in memory, per API replica, on purpose: a database round trip per request would cost more than
the abuse it prevents. N replicas behind a balancer therefore allow up to N times the configured
rate; size the settings for one replica's share. The daily write quota, which must hold across
replicas, lives in PostgreSQL instead (ragstream.commands.api.quota).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ragstream.exceptions import RagstreamError
from ragstream.settings import RateLimit


class RateLimited(RagstreamError):
    """HTTP 429 `rate-limited`, with Retry-After."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class QuotaExceeded(RagstreamError):
    """HTTP 429 `quota-exceeded`, with Retry-After (until the quota renews)."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_s(self, cost: float) -> float:
        """Seconds until `cost` tokens are there (0: now); call refill first."""
        return 0.0 if self.tokens >= cost else (cost - self.tokens) / self.rate

    @property
    def full(self) -> bool:
        return self.tokens >= self.burst


class RateLimiter:
    """`take` spends `cost` tokens from the tenant's and the credential's bucket, or none at all."""

    def __init__(
        self,
        per_tenant: RateLimit,
        per_key: RateLimit,
        *,
        what: str = "requests",
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ) -> None:
        self._limits = {"tenant": per_tenant, "key": per_key}
        self._what = what
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def _bucket(self, kind: str, name: str, now: float) -> TokenBucket | None:
        limit = self._limits[kind]
        if limit.unlimited:
            return None
        bucket = self._buckets.get((kind, name))
        if bucket is None:
            if len(self._buckets) >= self._max_buckets:
                self._prune(now)
            bucket = self._buckets[(kind, name)] = TokenBucket(limit.per_s, limit.burst, limit.burst, now)
        bucket.refill(now)
        return bucket

    def take(self, tenant: str, credential: str, cost: int = 1) -> None:
        now = self._clock()
        buckets = [
            (kind, b)
            for kind, name in (("tenant", tenant), ("key", f"{tenant}/{credential}"))
            if (b := self._bucket(kind, name, now)) is not None
        ]
        # A request bigger than a burst would never fit: it may take a whole full bucket instead.
        waits = [(b.wait_s(min(cost, b.burst)), kind) for kind, b in buckets]
        wait, kind = max(waits, default=(0.0, ""))
        if wait > 0:
            limit = self._limits[kind]
            raise RateLimited(
                f"over the {kind}'s limit of {limit.per_s:g} {self._what}/s (burst {limit.burst})",
                max(1, math.ceil(wait)),
            )
        for _, bucket in buckets:
            bucket.tokens -= min(cost, bucket.burst)

    def _prune(self, now: float) -> None:
        # A full bucket is the state a new one starts in: forgetting it changes nothing.
        for key, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.full:
                del self._buckets[key]
