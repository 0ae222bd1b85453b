"""Delivers the outbox: signed POSTs with retries, exponential backoff and jitter, and dead letters.

Each endpoint (subscription) is drained by a task of its own with its own HTTP client and at most
`endpoint_concurrency` requests in flight, each bounded by `delivery_timeout_s`: a slow or failing
endpoint holds only its own task, never another tenant's deliveries. One supervisor per worker
finds due work, turns waiting notices into due ones once the read models hold their version, polls
the connectors (when given a way to) and prunes the delivery log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import asyncpg
import httpx
from prometheus_client import Counter, Histogram

from ragstream.queries.notifications import notices
from ragstream.queries.notifications.outbound import guarded_client, post
from ragstream.queries.notifications.outbox import Delivery, Outbox
from ragstream.queries.notifications.signing import sign
from ragstream.queries.notifications.subscriptions import SubscriptionStore
from ragstream.queries.notifications.vault import SecretUnreadable
from ragstream.settings import NotificationSettings

log = logging.getLogger("ragstream.queries.notifications")
DELIVERIES = Counter("ragstream_webhook_attempts_total", "Webhook delivery attempts by outcome", ["outcome"])
LATENCY = Histogram(
    "ragstream_webhook_attempt_seconds", "Duration of webhook delivery attempts",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
# (connector name, tenant to tell or None, state, trace) for each CDC connector.
ConnectorStatus = tuple[str, str | None, str, str]
ConnectorStates = Callable[[], Awaitable[Sequence[ConnectorStatus]]]
CONNECTOR_POLL_S = 30.0
PRUNE_EVERY_S = 3600.0
USER_AGENT = "ragstream-webhooks/1"


def backoff_s(attempt: int, settings: NotificationSettings, retry_after_s: float | None = None) -> float:
    """The wait after the `attempt`-th failure: exponential, full of jitter, never under what the
    endpoint asked for (Retry-After), never over `backoff_max_s`."""
    exponential = min(settings.backoff_max_s, settings.backoff_initial_s * 2.0 ** (attempt - 1))
    wait = exponential * random.uniform(0.5, 1.0)
    return float(min(settings.backoff_max_s, max(wait, retry_after_s or 0.0)))


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        subscriptions: SubscriptionStore,
        settings: NotificationSettings,
        read_models: Sequence[str],
        *,
        connector_states: ConnectorStates | None = None,
    ) -> None:
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._settings = settings
        self._read_models = tuple(read_models)
        self._connector_states = connector_states
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="webhook-dispatcher")

    def wake(self) -> None:
        """Look for due work now rather than at the next poll (new notices were enqueued)."""
        self._wake.set()

    async def stop(self) -> None:
        tasks = [t for t in (self._supervisor, *self._drains.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._supervisor = None
        self._drains.clear()

    async def _supervise(self) -> None:
        next_connectors = next_prune = 0.0
        while True:
            try:
                await self._outbox.promote(self._read_models, self._settings.searchable_wait_s)
                for subscription_id in await self._outbox.due_subscriptions():
                    running = self._drains.get(subscription_id)
                    if running is None or running.done():
                        self._drains[subscription_id] = asyncio.create_task(
                            self._drain(subscription_id), name=f"webhook-{subscription_id}"
                        )
                now = time.monotonic()
                if self._connector_states is not None and now >= next_connectors:
                    next_connectors = now + CONNECTOR_POLL_S
                    await self._poll_connectors(self._connector_states)
                if now >= next_prune:
                    next_prune = now + PRUNE_EVERY_S
                    await self._outbox.prune(self._settings.delivery_log_retention_days)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("webhook dispatcher: %s", exc)
            self._drains = {k: t for k, t in self._drains.items() if not t.done()}
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)

    async def _drain(self, subscription_id: str) -> None:
        """Delivers the subscription's due work until there is none; one endpoint, one client."""
        try:
            async with guarded_client(allow_private=self._settings.allow_private_targets) as client:
                while True:
                    url = await self._subscriptions.target(subscription_id)
                    if url is None:
                        return
                    secrets = await self._subscriptions.signing_secrets(subscription_id)
                    batch = await self._outbox.claim(
                        subscription_id, self._settings.endpoint_concurrency, self._settings.lease_s
                    )
                    if not batch:
                        return
                    await asyncio.gather(*(self._attempt(client, url, secrets, d) for d in batch))
        except SecretUnreadable as exc:
            log.error("webhook %s cannot be signed: %s", subscription_id, exc)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("webhook %s: %s", subscription_id, exc)

    async def _attempt(
        self, client: httpx.AsyncClient, url: str, secrets: list[str], delivery: Delivery
    ) -> None:
        settings = self._settings
        body = json.dumps(delivery.body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **sign(secrets, delivery.notice_id, body),
        }
        started = time.perf_counter()
        outcome = await post(
            client, url, body, headers, timeout_s=settings.delivery_timeout_s,
            max_redirects=settings.max_redirects, max_bytes=settings.max_response_bytes,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        LATENCY.observe(elapsed)
        attempt = delivery.attempts + 1
        if outcome.ok:
            state, delay = "delivered", 0.0
        elif attempt >= settings.max_attempts:
            state, delay = "dead", 0.0
            log.warning(
                "webhook delivery %s to %s dead after %d attempts: %s",
                delivery.id, delivery.subscription_id, attempt, outcome.error or outcome.status,
            )  # fmt: skip
        else:
            state, delay = "pending", backoff_s(attempt, settings, outcome.retry_after_s)
        DELIVERIES.labels("delivered" if outcome.ok else "dead" if state == "dead" else "retry").inc()
        await self._outbox.record(delivery, outcome, elapsed * 1000, state, delay)

    async def _poll_connectors(self, states: ConnectorStates) -> None:
        try:
            reports = await states()
        except Exception as exc:  # Kafka Connect down is worth a log line, not a dead dispatcher
            log.warning("webhook dispatcher: connector states unavailable: %s", exc)
            return
        for name, tenant, state, trace in reports:
            if await self._outbox.connector_changed(name, state) and state == "FAILED" and tenant:
                notice = notices.for_connector(
                    tenant=tenant, connector=name, state=state, trace=trace, since=datetime.now(UTC)
                )
                await self._outbox.enqueue([notice])
