"""Webhooks end to end: the real command and query APIs with authentication on, a stream worker that
turns the log into deliveries, and a local HTTP receiver. Signatures, order per document, retries
after 500s and timeouts, dead letters and their replay, secret rotation, per-tenant isolation of a
failing endpoint, dead-lettered records, finished jobs, and who may manage subscriptions."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from ragstream.client import (
    Client,
    DocumentIn,
    Forbidden,
    InvalidRequest,
    InvalidSignature,
    NotFound,
    ReplayIn,
    verify_webhook,
)
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import Settings
from ragstream.topics import catalogue
from tests.conftest import unique_tag
from tests.integration.helpers import secured_pipeline, wait_until
from tests.integration.servers import Receiver, webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIMEOUT_S = 1.0
ENV = {
    # The receiver listens on 127.0.0.1: private targets must be allowed here (tests/unit/
    # test_webhook_outbound.py shows them refused by default).
    "RAGSTREAM_NOTIFICATIONS__ALLOW_PRIVATE_TARGETS": "true",
    "RAGSTREAM_NOTIFICATIONS__DELIVERY_TIMEOUT_S": str(TIMEOUT_S),
    "RAGSTREAM_NOTIFICATIONS__BACKOFF_INITIAL_S": "0.2",
    "RAGSTREAM_NOTIFICATIONS__BACKOFF_MAX_S": "0.5",
    "RAGSTREAM_NOTIFICATIONS__MAX_ATTEMPTS": "3",
    "RAGSTREAM_NOTIFICATIONS__POLL_INTERVAL_S": "0.2",
    "RAGSTREAM_NOTIFICATIONS__SECRETS_KEY": base64.b64encode(b"k" * 32).decode(),
}
Secured = tuple[LocalPipeline, dict[str, str]]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def secured(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tag = unique_tag("hook")
    grants = {
        "acme": ("acme", ["read", "write", "admin"]),
        "globex": ("globex", ["read", "write", "admin"]),
        "reader": ("acme", ["read"]),
    }
    with secured_pipeline(tag, Path(tmp_path_factory.mktemp(tag)), grants, workers=1, **ENV) as running:
        yield running


def client(secured: Secured, key: str) -> Client:
    pipeline, keys = secured
    return Client(pipeline.query_url, pipeline.command_url, api_key=keys[key])


def delivered(receiver: Receiver, path: str, count: int, timeout: float = 120) -> None:
    wait_until(lambda: len(receiver.at(path)) >= count, timeout=timeout, interval=0.1)


def test_deliveries_are_signed_and_arrive_in_order_per_document(secured: Secured, receiver: Receiver) -> None:
    with client(secured, "acme") as c:
        hook = c.create_webhook(receiver.url + "/ordered", events=["document.searchable", "document.deleted",
                                                                   "document.rejected"])  # fmt: skip
        assert hook.secret.startswith("whsec_") and hook.webhook.url.endswith("/ordered")
        c.upsert(DocumentIn(document_id="hook/one", content="Basalt forms from cooled lava."))
        c.upsert(DocumentIn(document_id="hook/one", content="Basalt forms when lava cools quickly."))
        c.update_access("hook/one", acl=["group:geology"])
        c.upsert(DocumentIn(document_id="hook/one", content="Stale write.", document_version=1))
        c.delete("hook/one")
    delivered(receiver, "/ordered", 5)
    time.sleep(1)  # nothing more may come
    received = receiver.at("/ordered")
    assert [(r.event["type"], r.event["data"].get("version")) for r in received] == [
        ("document.searchable", 1),
        ("document.searchable", 2),
        ("document.searchable", 3),
        ("document.rejected", None),
        ("document.deleted", 4),
    ]
    assert [r.event["data"].get("change") for r in received[:3]] == ["upserted", "upserted", "access_updated"]
    assert received[3].event["data"]["reason"].startswith("stale")
    for r in received:
        verify_webhook(hook.secret, r.headers, r.body)
        assert r.headers["webhook-id"] == r.event["id"] and r.event["tenant"] == "acme"
        with pytest.raises(InvalidSignature):
            verify_webhook(hook.secret, r.headers, r.body.replace(b"acme", b"evil"))
    assert len({r.headers["webhook-id"] for r in received}) == 5


def test_searchable_means_the_query_api_finds_it(secured: Secured, receiver: Receiver) -> None:
    with client(secured, "acme") as c:
        c.create_webhook(receiver.url + "/found", events=["document.searchable"])
        c.upsert(DocumentIn(document_id="hook/found", content="Obsidian is volcanic glass."))
        delivered(receiver, "/found", 1)
        # No consistency token: the notice itself says the read models hold the version.
        assert [h.document_id for h in c.search("obsidian glass", mode="bm25").hits] == ["hook/found"]


def test_retries_after_500s_and_timeouts_with_the_same_id(secured: Secured, receiver: Receiver) -> None:
    receiver.behaviour["/flaky"] = [500, 503]
    receiver.behaviour["/slow"] = [("sleep", TIMEOUT_S + 1.5)]
    with client(secured, "acme") as c:
        flaky = c.create_webhook(receiver.url + "/flaky", events=["document.searchable"]).webhook
        slow = c.create_webhook(receiver.url + "/slow", events=["document.searchable"]).webhook
        c.upsert(DocumentIn(document_id="hook/retried", content="Pumice floats on water."))
        delivered(receiver, "/flaky", 3)
        delivered(receiver, "/slow", 2)
        wait_until(lambda: c.webhook_deliveries(flaky.id)[0].state == "delivered", timeout=30)
        wait_until(lambda: c.webhook_deliveries(slow.id)[0].state == "delivered", timeout=30)
        [flaky_log] = c.webhook_deliveries(flaky.id)
        [slow_log] = c.webhook_deliveries(slow.id)
    assert [a.status for a in flaky_log.log] == [500, 503, 200] and flaky_log.attempts == 3
    assert slow_log.log[0].status is None and "within" in slow_log.log[0].error
    assert slow_log.log[1].status == 200
    assert len({r.headers["webhook-id"] for r in receiver.at("/flaky")}) == 1


def test_a_delivery_that_keeps_failing_is_dead_lettered_and_can_be_replayed(
    secured: Secured, receiver: Receiver
) -> None:
    receiver.always["/down"] = 500
    with client(secured, "acme") as c:
        hook = c.create_webhook(receiver.url + "/down", events=["document.searchable"]).webhook
        c.upsert(DocumentIn(document_id="hook/dead", content="Tuff is compacted volcanic ash."))
        wait_until(lambda: bool(c.webhook_deliveries(hook.id, state="dead")), timeout=120)
        [dead] = c.webhook_deliveries(hook.id, state="dead")
        assert dead.attempts == 3 and [a.status for a in dead.log] == [500, 500, 500]
        receiver.always["/down"] = 200
        assert c.replay_webhook_deliveries(hook.id).queued == 1
        wait_until(lambda: c.webhook_deliveries(hook.id)[0].state == "delivered", timeout=30)
    assert [r.event["data"]["document_id"] for r in receiver.at("/down")][-1] == "hook/dead"


def test_one_tenants_failing_endpoint_does_not_slow_another_tenants(
    secured: Secured, receiver: Receiver
) -> None:
    receiver.always["/hanging"] = ("sleep", 30)
    with client(secured, "globex") as globex, client(secured, "acme") as acme:
        globex.create_webhook(receiver.url + "/hanging", events=["document.searchable"])
        acme.create_webhook(receiver.url + "/prompt", events=["document.searchable"])
        globex.upsert([DocumentIn(document_id=f"hook/g{i}", content=f"Globex note {i} on granite.")
                       for i in range(12)]).wait_searchable(180)  # fmt: skip
        wait_until(lambda: len(receiver.at("/hanging")) >= 4, timeout=60)  # globex's endpoint is busy
        written = acme.upsert(DocumentIn(document_id="hook/prompt", content="Acme note on gneiss."))
        outcome = acme.wait_for(written.commands[0], timeout_s=120)
        assert outcome.outcome == "searchable"
        searchable_at = time.monotonic()
        delivered(receiver, "/prompt", 1, timeout=30)
    # Behind globex's hanging endpoint it would wait out 30 s timeouts; isolated, it is a poll and one
    # delivery away. The bound sits far from both, so the machine's load cannot decide the outcome.
    assert receiver.at("/prompt")[0].at - searchable_at < 15


def test_a_rotated_secret_signs_alongside_the_previous_one_until_it_expires(
    secured: Secured, receiver: Receiver
) -> None:
    with client(secured, "acme") as c:
        created = c.create_webhook(receiver.url + "/rotated", events=["document.rejected"])
        old = created.secret
        rotated = c.rotate_webhook_secret(created.webhook.id, overlap_s=3600)
        assert rotated.secret != old and rotated.webhook.previous_secret_expires_at is not None
        c.ping_webhook(created.webhook.id)
        delivered(receiver, "/rotated", 1)
        ping = receiver.at("/rotated")[0]
        assert ping.event["type"] == "webhook.ping" and len(ping.headers["webhook-signature"].split()) == 2
        verify_webhook(old, ping.headers, ping.body)
        verify_webhook(rotated.secret, ping.headers, ping.body)
        newest = c.rotate_webhook_secret(created.webhook.id, overlap_s=0).secret
        c.ping_webhook(created.webhook.id)
        delivered(receiver, "/rotated", 2)
    second = receiver.at("/rotated")[1]
    verify_webhook(newest, second.headers, second.body)
    for stale in (old, rotated.secret):
        with pytest.raises(InvalidSignature):
            verify_webhook(stale, second.headers, second.body)


def test_a_dead_lettered_record_is_notified_with_its_reason(secured: Secured, receiver: Receiver) -> None:
    pipeline, _ = secured
    with client(secured, "acme") as c:
        c.create_webhook(receiver.url + "/dlq", events=["document.dead_lettered"])

        async def produce() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
            await producer.start()
            try:
                topic = catalogue(pipeline.settings.kafka.topic_prefix).commands.name
                await producer.send_and_wait(topic, b"not avro at all", key=b"acme/hook-garbage")
            finally:
                await producer.stop()

        asyncio.run(produce())
        delivered(receiver, "/dlq", 1)
    event = receiver.events("/dlq")[0]
    assert event["type"] == "document.dead_lettered" and event["tenant"] == "acme"
    data = event["data"]
    assert data["document_id"] == "hook-garbage" and data["processor"] == "validate_commands"
    assert data["reason"] and data["source"].split("/")[0].endswith(".document-commands")


def test_a_finished_replay_is_notified_to_the_tenant_that_started_it(
    secured: Secured, receiver: Receiver
) -> None:
    with client(secured, "acme") as c, client(secured, "globex") as globex:
        c.create_webhook(receiver.url + "/jobs", events=["replay.finished", "replay.failed"])
        globex.create_webhook(receiver.url + "/other-jobs", events=["replay.finished"])
        job = c.replay(ReplayIn(read_model="all"))
        delivered(receiver, "/jobs", 1)
    event = receiver.events("/jobs")[0]
    assert (event["type"], event["data"]["job_id"], event["data"]["tenant"]) == (
        "replay.finished",
        job.id,
        "acme",
    )
    time.sleep(1)
    assert receiver.at("/other-jobs") == []


def test_subscriptions_are_the_tenant_admins_and_targets_are_checked(
    secured: Secured, receiver: Receiver
) -> None:
    with client(secured, "acme") as acme, client(secured, "globex") as globex:
        hook = acme.create_webhook(receiver.url + "/owned", events=["*"]).webhook
        assert hook.id in {h.id for h in acme.webhooks()}
        assert hook.id not in {h.id for h in globex.webhooks()}
        with pytest.raises(NotFound):
            globex.webhook(hook.id)
        with pytest.raises(NotFound):
            globex.delete_webhook(hook.id)
        for bad in ("ftp://example.com/hook", "http://user:pw@example.com/hook", "not a url"):
            with pytest.raises(InvalidRequest):
                acme.create_webhook(bad)
        paused = acme.update_webhook(hook.id, active=False, events=["document.rejected"])
        assert (paused.active, paused.events) == (False, ["document.rejected"])
        acme.delete_webhook(hook.id)
        with pytest.raises(NotFound):
            acme.webhook(hook.id)
    with client(secured, "reader") as reader, pytest.raises(Forbidden):
        reader.webhooks()
