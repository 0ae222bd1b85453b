"""Signing secrets at rest. They are HMAC keys, so they cannot be hashed like API keys: the
dispatcher needs them to sign. With `notifications.secrets_key` set they are encrypted with AES-GCM
(the subscription id as associated data, so a secret copied to another subscription does not
decrypt); without it they are stored as they are and only the database's access control protects
them (SECURITY.md)."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_ENCRYPTED, _PLAIN = "enc:v1:", "plain:"


class SecretUnreadable(ValueError):
    """A stored secret that the configured key cannot decrypt (a missing or changed key)."""


class SecretVault:
    def __init__(self, key_b64: str = "") -> None:
        self._aead = AESGCM(base64.b64decode(key_b64)) if key_b64 else None

    @property
    def encrypts(self) -> bool:
        return self._aead is not None

    def seal(self, secret: str, subscription_id: str) -> str:
        if self._aead is None:
            return _PLAIN + secret
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), subscription_id.encode())
        return _ENCRYPTED + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str, subscription_id: str) -> str:
        if stored.startswith(_PLAIN):
            return stored.removeprefix(_PLAIN)
        if not stored.startswith(_ENCRYPTED):
            raise SecretUnreadable("unknown secret format")
        if self._aead is None:
            raise SecretUnreadable("the secret is encrypted but notifications.secrets_key is not set")
        raw = base64.b64decode(stored.removeprefix(_ENCRYPTED))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], subscription_id.encode()).decode()
        except InvalidTag as exc:
            raise SecretUnreadable("the secret does not decrypt with notifications.secrets_key") from exc
