"""The webhook outbox against the real PostgreSQL, without Kafka: fan-out to subscriptions, one
delivery at a time per document in log order, waiting for the read models, leases shared between
workers, dead letters and replay, offsets applied once, connector failures told once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from ragstream.postgres import connect_pool
from ragstream.queries.notifications import SCHEMA, notices
from ragstream.queries.notifications.dispatcher import Dispatcher
from ragstream.queries.notifications.notices import Kind, Notice
from ragstream.queries.notifications.outbound import Outcome
from ragstream.queries.notifications.outbox import Outbox
from ragstream.queries.notifications.subscriptions import SubscriptionStore
from ragstream.queries.notifications.vault import SecretVault
from ragstream.queries.registry.store import SCHEMA as REGISTRY_SCHEMA
from ragstream.queries.registry.store import RegistryStore
from ragstream.settings import NotificationSettings, PostgresSettings, Settings
from tests.conftest import unique_tag

pytestmark = pytest.mark.integration
READ_MODELS = ("lexical", "vector")


class Stores:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool, self.schema = pool, schema
        self.outbox = Outbox(pool, schema)
        self.subscriptions = SubscriptionStore(pool, schema, SecretVault(), max_per_tenant=3)
        self.registry = RegistryStore(pool, schema)


@pytest.fixture
async def stores(local_stack: Settings) -> AsyncIterator[Stores]:
    postgres = PostgresSettings(**{**local_stack.postgres.model_dump(), "schema_name": unique_tag("ob")})
    pool = await connect_pool(postgres, schemas=(REGISTRY_SCHEMA, SCHEMA))
    try:
        yield Stores(pool, postgres.schema_name)
    finally:
        await pool.execute(f"DROP SCHEMA {postgres.schema_name} CASCADE")
        await pool.close()


def searchable(document_id: str, version: int, tenant: str = "acme") -> Notice:
    return Notice(
        notices.notice_id(Kind.SEARCHABLE, f"{tenant}/{document_id}/{version}"), Kind.SEARCHABLE, tenant,
        {"document_id": document_id, "version": version}, datetime.now(UTC),
        document_id=document_id, version=version, waits_for_read_models=True,
    )  # fmt: skip


def rejected(document_id: str, n: int, tenant: str = "acme") -> Notice:
    return Notice(
        notices.notice_id(Kind.REJECTED, f"{tenant}/{document_id}/r{n}"), Kind.REJECTED, tenant,
        {"document_id": document_id}, datetime.now(UTC), document_id=document_id,
    )  # fmt: skip


async def hold(
    stores: Stores, document_id: str, version: int, read_models: tuple[str, ...] = READ_MODELS
) -> None:
    for read_model in read_models:
        await stores.registry.record_read_model_versions(read_model, [("acme", document_id, version, False)])


async def test_deliveries_fan_out_by_kind_and_go_out_one_per_document_in_log_order(stores: Stores) -> None:
    everything, _ = await stores.subscriptions.create("acme", "https://a.example/hook", ["*"], "", "t")
    only_rejections, _ = await stores.subscriptions.create(
        "acme", "https://b.example/hook", ["document.rejected"], "", "t"
    )
    await stores.subscriptions.create("globex", "https://c.example/hook", ["*"], "", "t")
    items = [(0, 1, [searchable("d1", 1)]), (0, 2, [rejected("d1", 1)]), (0, 3, [searchable("d2", 1)])]
    assert await stores.outbox.enqueue_from_log("notify", "events", items) == 4
    assert await stores.outbox.enqueue_from_log("notify", "events", items) == 0  # offsets applied once

    outbox = stores.outbox
    assert await outbox.claim(everything.id, 10, 60) == []  # both documents wait for the read models
    await hold(stores, "d1", 1, ("lexical",))
    assert await outbox.promote(READ_MODELS, 3600) == 0  # one read model is not enough
    await hold(stores, "d1", 2)  # a later version counts too
    assert await outbox.promote(READ_MODELS, 3600) == 1
    [first] = await outbox.claim(everything.id, 10, 60)
    assert (first.kind, first.document_id) == ("document.searchable", "d1")
    assert await outbox.claim(everything.id, 10, 60) == []  # leased, and d1's rejection waits behind it
    [other] = await outbox.claim(only_rejections.id, 10, 60)  # another endpoint is not held up
    assert other.kind == "document.rejected"
    await outbox.record(first, Outcome(200), 5.0, "delivered", 0)
    [second] = await outbox.claim(everything.id, 10, 60)
    assert (second.kind, second.document_id) == ("document.rejected", "d1")


async def test_a_dead_worker_s_claim_passes_on_and_dead_deliveries_can_be_replayed(stores: Stores) -> None:
    hook, _ = await stores.subscriptions.create("acme", "https://a.example/hook", ["*"], "", "t")
    await stores.outbox.enqueue([rejected("d1", 1), rejected("d2", 1)])
    claims = await asyncio.gather(*(stores.outbox.claim(hook.id, 10, 0.5) for _ in range(2)))
    claimed = [d.id for c in claims for d in c]
    assert len(claimed) == len(set(claimed)) == 2  # concurrent workers never claim the same delivery
    await asyncio.sleep(0.6)  # the claiming worker died: its lease ends
    again = await stores.outbox.claim(hook.id, 10, 60)
    assert len(again) == 2
    for delivery in again:
        await stores.outbox.record(delivery, Outcome(500, "nope"), 1.0, "dead", 0)
    dead = await stores.outbox.deliveries(hook.id, state="dead")
    assert len(dead) == 2 and dead[0].log[0].status == 500 and dead[0].log[0].response == "nope"
    assert await stores.outbox.replay(hook.id, [dead[0].id]) == 1
    [replayed] = await stores.outbox.claim(hook.id, 10, 60)
    assert (replayed.id, replayed.attempts) == (dead[0].id, 0)


async def test_a_version_dead_lettered_on_its_way_gives_up_its_wait(stores: Stores) -> None:
    hook, _ = await stores.subscriptions.create("acme", "https://a.example/hook", ["*"], "", "t")
    dead_letter = Notice(
        notices.notice_id(Kind.DEAD_LETTERED, "x"), Kind.DEAD_LETTERED, "acme", {"document_id": "d1"},
        datetime.now(UTC), document_id="d1", version=1, ends_wait=True,
    )  # fmt: skip
    await stores.outbox.enqueue([searchable("d1", 1)])
    await stores.outbox.enqueue([dead_letter])
    [notice] = await stores.outbox.claim(hook.id, 10, 60)  # not held behind a wait that cannot end
    assert notice.kind == "document.dead_lettered"
    await stores.outbox.enqueue([searchable("d2", 1), rejected("d2", 1)])
    await stores.pool.execute(f"UPDATE {stores.schema}.webhook_deliveries SET created_at = now() - interval '2 hours'"
                              " WHERE document_id='d2'")  # fmt: skip
    await stores.outbox.promote(READ_MODELS, 3600)  # waited longer than an hour: given up
    states = {d.kind: d.state for d in await stores.outbox.deliveries(hook.id) if d.document_id == "d2"}
    assert states == {"document.searchable": "expired", "document.rejected": "pending"}


async def test_subscriptions_are_limited_per_tenant_and_secrets_rotate(stores: Stores) -> None:
    for i in range(3):
        await stores.subscriptions.create("acme", f"https://{i}.example/", ["*"], "", "t")
    with pytest.raises(Exception, match="already has 3"):
        await stores.subscriptions.create("acme", "https://4.example/", ["*"], "", "t")
    [hook, *_] = await stores.subscriptions.all("acme")
    first = await stores.subscriptions.signing_secrets(hook.id)
    rotated = await stores.subscriptions.rotate("acme", hook.id, 3600)
    assert rotated is not None and await stores.subscriptions.signing_secrets(hook.id) == [rotated[1], *first]
    assert await stores.subscriptions.rotate("globex", hook.id, 0) is None  # another tenant's
    newest = await stores.subscriptions.rotate("acme", hook.id, 0)
    assert newest is not None and await stores.subscriptions.signing_secrets(hook.id) == [newest[1]]


async def test_a_failed_connector_is_told_once_per_failure(stores: Stores) -> None:
    hook, _ = await stores.subscriptions.create(
        "acme", "https://a.example/hook", ["connector.failed"], "", "t"
    )
    reports = [("articles", "acme", "RUNNING", "")]

    async def states() -> list[tuple[str, str | None, str, str]]:
        return list(reports)

    dispatchers = [Dispatcher(stores.outbox, stores.subscriptions, NotificationSettings(), READ_MODELS,
                              connector_states=states) for _ in range(2)]  # fmt: skip

    async def poll() -> None:  # two workers see the same state
        await asyncio.gather(*(d._poll_connectors(states) for d in dispatchers))

    await poll()
    reports[0] = ("articles", "acme", "FAILED", "java.sql.SQLException: connection refused")
    await poll()
    await poll()
    reports[0] = ("articles", "acme", "RUNNING", "")
    await poll()
    reports[0] = ("articles", "acme", "FAILED", "again")
    await poll()
    told = await stores.outbox.deliveries(hook.id)
    assert [d.body["data"]["trace"] for d in reversed(told)] == [
        "java.sql.SQLException: connection refused",
        "again",
    ]
