"""The faust app every ragstream worker runs on: one configuration, one set of web pages.

The full stream worker and the CDC-only worker are both built here, so both get the short session
timeouts (a crashed worker's partitions move within seconds), the delivery fixes for their topics,
/health, /ready and /metrics, the consumer-lag gauges and the sequencers' stall audit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragstream.kafka import faust_credentials
from ragstream.observability.lag import LagMonitor
from ragstream.settings import Settings
from ragstream.streams.delivery import audit_sequencers, install_fixes

log = logging.getLogger("ragstream.streams.worker")
# A named check behind /ready: reachable or not (a slow answer counts as not).
ReadyCheck = tuple[str, Callable[[], Awaitable[bool]]]
READY_TIMEOUT_S = 3.0


def raw_topic(app: faust.App, *names: str, **options: Any) -> Any:
    """Topics of opaque bytes: the processors decode Avro themselves, so a bad record is theirs to
    dead-letter instead of a serializer error inside faust."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", **options
    )


def worker_app(
    settings: Settings,
    app_id: str,
    *,
    sequenced_topics: Sequence[str],
    lag_topics: Sequence[str],
    ready_checks: Sequence[ReadyCheck] = (),
) -> faust.App:
    """`sequenced_topics`: the contiguous topics this worker consumes (they get the delivery fixes);
    `lag_topics`: the topics whose consumer lag the gauges report."""
    install_fixes(sequenced_topics, at_least_once=settings.streams.processing_guarantee == "at_least_once")
    settings.streams.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings.kafka),
        store="memory://",
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        processing_guarantee=settings.streams.processing_guarantee,
        datadir=str(settings.streams.data_dir / app_id),
        web_bind=settings.streams.web_host,
        web_host=settings.streams.web_host,
        web_port=settings.streams.web_port,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=settings.kafka.max_message_bytes,
        consumer_max_fetch_size=settings.kafka.max_message_bytes,
        stream_wait_empty=False,
        broker_commit_every=100,
        # A crashed worker's partitions move to the others within seconds, not minutes.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=30.0,
        broker_commit_interval=1.0,
    )
    # Every worker reports the whole group's lag from the broker, so a dead worker's partitions show.
    lag_monitor = LagMonitor(settings.kafka, app_id, list(lag_topics))

    @app.timer(interval=settings.observability.lag_interval_s)  # type: ignore[untyped-decorator]
    async def report_consumer_lag() -> None:
        await lag_monitor.update()

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # As a header: aiohttp refuses a content_type argument with a charset, which this one has.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    async def reachable(check: Callable[[], Awaitable[bool]]) -> bool:
        try:
            return await asyncio.wait_for(check(), timeout=READY_TIMEOUT_S)
        except TimeoutError:
            return False

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        # Not ready while partitions are being reassigned or a database is unreachable; /health stays
        # green meanwhile, so a liveness probe does not restart a worker for it.
        problems = ["rebalancing"] if app.rebalancing else []
        problems += [f"{name} unreachable" for name, check in ready_checks if not await reachable(check)]
        if problems:
            # Why goes to the log: the page is unauthenticated and says ready or not, nothing more.
            log.warning("not ready: %s", ", ".join(problems))
        return web.json({"status": "not ready" if problems else "ready"}, status=503 if problems else 200)

    audit_sequencers(app)
    return app
