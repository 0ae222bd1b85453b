"""Webhook signatures (Standard Webhooks), secrets at rest, backoff, and the notices the log makes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from ragstream.client import verify_webhook
from ragstream.queries.notifications import notices
from ragstream.queries.notifications.dispatcher import backoff_s
from ragstream.queries.notifications.notices import Kind
from ragstream.queries.notifications.signing import InvalidSignature, new_secret, sign
from ragstream.queries.notifications.vault import SecretUnreadable, SecretVault
from ragstream.records import LogRecord
from ragstream.settings import PROJECT_ROOT, NotificationSettings

pytestmark = pytest.mark.unit
BODY = b'{"type":"document.searchable","data":{"document_id":"faq/1"}}'


def test_the_signature_is_hmac_sha256_over_id_timestamp_and_body_as_the_docs_say() -> None:
    secret = new_secret()
    headers = sign([secret], "evt_1", BODY, timestamp=1_700_000_000)
    # What docs/notifications.md tells a receiver to compute, written out without ragstream.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b"evt_1.1700000000." + BODY, hashlib.sha256).digest()
    assert headers == {
        "webhook-id": "evt_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    verify_webhook(secret, headers, BODY, now=1_700_000_100)


def test_the_verification_written_out_in_the_docs_accepts_ours_and_refuses_tampering() -> None:
    docs = (PROJECT_ROOT / "docs" / "notifications.md").read_text()
    [code] = [block for block in re.findall(r"```python\n(.*?)```", docs, re.S) if "def verify(" in block]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    secret = new_secret()
    headers = sign([new_secret(), secret], "evt_9", BODY)  # during a rotation: either secret verifies
    namespace["verify"](secret, headers, BODY)
    with pytest.raises(ValueError, match="bad signature"):
        namespace["verify"](secret, headers, BODY.replace(b"faq", b"fax"))


def test_verification_refuses_tampering_other_secrets_and_old_timestamps() -> None:
    secret = new_secret()
    headers = sign([secret], "evt_2", BODY, timestamp=1_700_000_000)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify_webhook(secret, headers, BODY + b" ", now=1_700_000_000)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify_webhook(new_secret(), headers, BODY, now=1_700_000_000)
    with pytest.raises(InvalidSignature, match="too far"):
        verify_webhook(secret, headers, BODY, now=1_700_000_000 + 301)
    with pytest.raises(InvalidSignature, match="missing"):
        verify_webhook(secret, {"webhook-id": "evt_2"}, BODY)
    forged = dict(headers, **{"webhook-id": "evt_3"})  # the id is signed too
    with pytest.raises(InvalidSignature):
        verify_webhook(secret, forged, BODY, now=1_700_000_000)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = sign([new, old], "evt_4", BODY, timestamp=1_700_000_000)
    assert len(headers["webhook-signature"].split(" ")) == 2
    upper = {k.upper(): v for k, v in headers.items()}  # header names in any case
    for secret in (old, new):
        verify_webhook(secret, upper, BODY, now=1_700_000_000)


def test_secrets_are_sealed_with_the_key_and_bound_to_their_subscription() -> None:
    vault = SecretVault(base64.b64encode(b"k" * 32).decode())
    secret = new_secret()
    sealed = vault.seal(secret, "wh_1")
    assert secret not in sealed and sealed.startswith("enc:v1:")
    assert vault.open(sealed, "wh_1") == secret
    with pytest.raises(SecretUnreadable):
        vault.open(sealed, "wh_2")  # copied to another subscription: does not decrypt
    with pytest.raises(SecretUnreadable):
        SecretVault(base64.b64encode(b"j" * 32).decode()).open(sealed, "wh_1")
    with pytest.raises(SecretUnreadable, match="not set"):
        SecretVault().open(sealed, "wh_1")
    plain = SecretVault()
    assert not plain.encrypts and plain.open(plain.seal(secret, "wh_1"), "wh_1") == secret


def test_a_secrets_key_that_is_not_32_bytes_of_base64_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        NotificationSettings(secrets_key="short")  # type: ignore[arg-type]
    NotificationSettings(secrets_key=base64.b64encode(b"x" * 32).decode())  # type: ignore[arg-type]


def test_backoff_grows_exponentially_with_jitter_within_bounds_and_honours_retry_after() -> None:
    settings = NotificationSettings(backoff_initial_s=1.0, backoff_max_s=60.0)
    random.seed(7)
    for attempt, top in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (10, 60.0)]:
        waits = [backoff_s(attempt, settings) for _ in range(50)]
        assert all(top / 2 <= w <= top for w in waits) and len(set(waits)) > 1
    assert backoff_s(1, settings, retry_after_s=30) == 30
    assert backoff_s(1, settings, retry_after_s=3600) == 60


def record(name: str, **fields: object) -> LogRecord:
    base = {"tenant": "acme", "document_id": "faq/1", "command_id": "c1", "event_id": f"e-{name}",
            "actor": "key:app", "event_time": datetime(2025, 1, 1, tzinfo=UTC),
            "recorded_time": datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)}  # fmt: skip
    return LogRecord(name, {**base, **fields}, "t.document-events", 0, 5)


def test_events_become_notices_with_stable_ids() -> None:
    upserted = notices.from_event(record("DocumentUpserted", version=3))
    assert upserted is not None and upserted == notices.from_event(record("DocumentUpserted", version=3))
    assert (upserted.kind, upserted.version, upserted.waits_for_read_models) == (Kind.SEARCHABLE, 3, True)
    assert upserted.body()["timestamp"] == "2025-01-01T00:00:01Z" and upserted.body()["tenant"] == "acme"
    deleted = notices.from_event(record("DocumentDeleted", version=4))
    assert deleted is not None and deleted.kind is Kind.DELETED and deleted.waits_for_read_models
    rejected = notices.from_event(
        record("CommandRejected", command_type="UpsertDocument", reason="unchanged: ...", current_version=3)
    )
    assert rejected is not None and rejected.kind is Kind.REJECTED and not rejected.waits_for_read_models
    assert rejected.data["reason"] == "unchanged: ..." and rejected.id != upserted.id
    assert notices.from_event(record("SomethingElse")) is None


def test_a_dead_letter_is_told_to_the_tenant_of_its_key_even_when_it_does_not_decode() -> None:
    headers = {"processor": b"validate_commands", "error": b"bad magic", "error_type": b"MalformedRecord",
               "source_topic": b"t.document-commands", "source_partition": b"1", "source_offset": b"9"}  # fmt: skip
    opaque = LogRecord("", {}, "t.dead-letters", 0, 1, key=b"acme/doc-7", headers=headers)
    notice = notices.from_dead_letter(opaque)
    assert notice is not None and (notice.tenant, notice.document_id, notice.kind) == (
        "acme", "doc-7", Kind.DEAD_LETTERED)  # fmt: skip
    assert notice.data["reason"] == "bad magic" and notice.data["source"] == "t.document-commands/1/9"
    assert notice.ends_wait  # the command never reaches the read models
    assert notices.from_dead_letter(LogRecord("", {}, "t.dead-letters", 0, 2, key=b"no tenant")) is None
    chunked = LogRecord("DocumentChunked", {"tenant": "acme", "document_id": "d", "version": 2}, "t", 0, 3,
                        key=b"acme/d", headers={**headers, "processor": b"record_registry"})  # fmt: skip
    late = notices.from_dead_letter(chunked)
    assert late is not None and late.version == 2 and not late.ends_wait
