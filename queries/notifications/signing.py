"""Webhook signatures, as the Standard Webhooks specification defines them (standardwebhooks.com).

Every delivery carries three headers: `webhook-id` (the event's idempotency key, the same on every
retry), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`, a space-separated
list of `v1,<base64 HMAC-SHA256>` over `"{id}.{timestamp}.{body}"`, one per active secret (two while
a secret is being rotated). Secrets look like `whsec_<base64 key>`; the key is the decoded part.

`verify` is what a receiver runs (it is also `ragstream.client.verify_webhook`): any one matching
signature is enough, and a timestamp too far from now is refused, so a captured request cannot be
replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

PREFIX = "whsec_"
ID, TIMESTAMP, SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
TOLERANCE_S = 300


class InvalidSignature(ValueError):
    """The request was not signed by a secret of the subscription, or not recently."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def sign(
    secrets_: Iterable[str], message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a delivery signed with every secret given."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        ID: message_id,
        TIMESTAMP: str(ts),
        SIGNATURE: " ".join(signature(s, message_id, ts, body) for s in secrets_),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Raises InvalidSignature unless `body` and `headers` (names in any case) were signed with
    `secret` within `tolerance_s` of `now`."""
    lower = {k.lower(): v for k, v in headers.items()}
    message_id, stamp, given = lower.get(ID), lower.get(TIMESTAMP, ""), lower.get(SIGNATURE, "")
    if not message_id or not stamp.isdigit() or not given:
        raise InvalidSignature(f"missing {ID}, {TIMESTAMP} or {SIGNATURE} header")
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance_s:
        raise InvalidSignature("the timestamp is too far from now")
    expected = signature(secret, message_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in given.split()):
        raise InvalidSignature("no signature matches")
