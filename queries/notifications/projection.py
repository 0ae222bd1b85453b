"""The stream workers' side of webhooks: two projections that turn the log into deliveries, and the
dispatcher that sends them (started when the first projection opens, stopped when the last closes).

- the events topic: searchable (once every read model holds the version), deleted, rejected;
- the dead-letter topic: dead-lettered, with the processor and the reason (undecodable records
  included, by their key; a dead letter of a dead letter is never made).

Each records the log offsets it applied in the same transaction as the deliveries, so a redelivered
record makes no second delivery; the workers run them in their consumer group, one owner per partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import asyncpg

from ragstream.postgres import connect_pool, ping
from ragstream.projections import Projection, Unappliable
from ragstream.queries.notifications import SCHEMA, notices
from ragstream.queries.notifications.dispatcher import ConnectorStates, Dispatcher
from ragstream.queries.notifications.outbox import Outbox
from ragstream.queries.notifications.subscriptions import SubscriptionStore
from ragstream.queries.notifications.vault import SecretVault
from ragstream.queries.readmodels.projection import READ_MODELS
from ragstream.queries.registry.store import SCHEMA as REGISTRY_SCHEMA
from ragstream.records import LogRecord
from ragstream.settings import Settings
from ragstream.topics import catalogue

log = logging.getLogger("ragstream.queries.notifications")


class Notifier:
    """The outbox, the subscriptions and one dispatcher, shared by a worker's notice projections."""

    def __init__(self, settings: Settings, connector_states: ConnectorStates | None = None) -> None:
        self._settings = settings
        self._connector_states = connector_states
        self._users = 0
        self._lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None
        self.outbox: Outbox | None = None
        self.dispatcher: Dispatcher | None = None

    async def open(self) -> None:
        async with self._lock:
            self._users += 1
            if self._pool is not None:
                return
            settings = self._settings
            self._pool = await connect_pool(settings.postgres, schemas=(REGISTRY_SCHEMA, SCHEMA), max_size=6)
            schema = settings.postgres.schema_name
            self.outbox = Outbox(self._pool, schema)
            vault = SecretVault(settings.notifications.secrets_key.get_secret_value())
            subscriptions = SubscriptionStore(self._pool, schema, vault)
            self.dispatcher = Dispatcher(
                self.outbox, subscriptions, settings.notifications, READ_MODELS,
                connector_states=self._connector_states,
            )  # fmt: skip
            self.dispatcher.start()

    async def close(self) -> None:
        async with self._lock:
            self._users -= 1
            if self._users > 0 or self._pool is None:
                return
            if self.dispatcher is not None:
                await self.dispatcher.stop()
            await self._pool.close()
            self._pool, self.outbox, self.dispatcher = None, None, None

    async def ready(self) -> bool:
        return self._pool is not None and await ping(self._pool)


class NoticeProjection:
    max_batch = 64

    def __init__(
        self,
        notifier: Notifier,
        *,
        name: str,
        topic: str,
        derive: Callable[[LogRecord], notices.Notice | None],
        dead_letters_failures: bool,
    ) -> None:
        self.name = name
        self.topic = topic
        self._notifier = notifier
        self._derive = derive
        self._dead_letters_failures = dead_letters_failures

    async def open(self) -> None:
        await self._notifier.open()

    async def apply(self, records: Sequence[LogRecord]) -> list[Unappliable]:
        outbox, dispatcher = self._notifier.outbox, self._notifier.dispatcher
        assert outbox is not None and dispatcher is not None, "open() the projection first"
        items = [(r.partition, r.offset, self._notices(r)) for r in records]
        try:
            await outbox.enqueue_from_log(self.name, self.topic, items)
            return []
        except asyncpg.DataError:
            # One record the database refuses must not hold back the others: apply them one by one.
            return await self._one_by_one(outbox, records, items)
        finally:
            dispatcher.wake()

    async def _one_by_one(
        self, outbox: Outbox, records: Sequence[LogRecord], items: list[tuple[int, int, list[notices.Notice]]]
    ) -> list[Unappliable]:
        failed = []
        for record, item in zip(records, items, strict=True):
            try:
                await outbox.enqueue_from_log(self.name, self.topic, [item])
            except asyncpg.DataError as exc:
                if self._dead_letters_failures:
                    failed.append(Unappliable(record, exc))
                else:
                    log.warning("no notice for dead letter %s: %s", record.position, exc)
        return failed

    def _notices(self, record: LogRecord) -> list[notices.Notice]:
        notice = self._derive(record)
        return [] if notice is None else [notice]

    async def ready(self) -> bool:
        return await self._notifier.ready()

    async def close(self) -> None:
        await self._notifier.close()


class DeadLetterNotices(NoticeProjection):
    # Dead letters are read as they are, undecodable ones included: dead-lettering what this
    # projection cannot read would feed it back to itself forever.
    reads_undecodable = True


def notification_projections(
    settings: Settings, connector_states: ConnectorStates | None = None
) -> list[Projection]:
    """The projections a stream worker runs for webhooks; none when notifications are off."""
    if not settings.notifications.enabled:
        return []
    topics = catalogue(settings.kafka.topic_prefix)
    notifier = Notifier(settings, connector_states)
    return [
        NoticeProjection(
            notifier, name="notify_events", topic=topics.events.name, derive=notices.from_event,
            dead_letters_failures=True,
        ),
        DeadLetterNotices(
            notifier, name="notify_dead_letters", topic=topics.dlq.name, derive=notices.from_dead_letter,
            dead_letters_failures=False,
        ),
    ]  # fmt: skip
