"""API keys: shown once when created, stored only as SHA-256 hashes with their tenant and rights."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ragstream.auth.identity import SCOPES
from ragstream.identifiers import TENANT_PATTERN

PREFIX = "rsk_"
log = logging.getLogger("ragstream.auth")


@dataclass(frozen=True)
class KeyRecord:
    name: str
    tenant: str
    principals: list[str]
    scopes: list[str]
    created_at: str


def hash_key(key: str) -> str:
    # Keys are 256-bit random, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def _valid(record: KeyRecord) -> bool:
    return bool(re.match(TENANT_PATTERN, record.tenant)) and set(record.scopes) <= SCOPES


def load_keys(path: Path) -> dict[str, KeyRecord]:
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    keys = {digest: KeyRecord(**record) for digest, record in raw.items()}
    for digest, record in list(keys.items()):
        if not _valid(record):
            # A hand-edited entry that names a bad tenant or scope grants nothing.
            log.warning("API key %r in %s is ignored: bad tenant or scope", record.name, path)
            del keys[digest]
    return keys


def _save(path: Path, keys: dict[str, KeyRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({d: asdict(r) for d, r in keys.items()}, indent=2))
    os.chmod(tmp, 0o600)
    # Atomic: a service reloading the file never reads half of it.
    os.replace(tmp, path)


def create_key(path: Path, *, name: str, tenant: str, principals: list[str], scopes: list[str]) -> str:
    """Returns the new key; only its hash is written (file mode 0600)."""
    if not re.match(TENANT_PATTERN, tenant):
        raise ValueError(f"tenant {tenant!r} does not match {TENANT_PATTERN}")
    if unknown := set(scopes) - SCOPES:
        raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}")
    key = PREFIX + secrets.token_urlsafe(32)
    keys = load_keys(path)
    keys[hash_key(key)] = KeyRecord(name, tenant, principals, scopes, datetime.now(UTC).isoformat())
    _save(path, keys)
    return key


def revoke_key(path: Path, name: str) -> int:
    keys = load_keys(path)
    kept = {d: r for d, r in keys.items() if r.name != name}
    _save(path, kept)
    return len(keys) - len(kept)


class KeyStore:
    """The key file, loaded once and reloaded when it changes (checked at most every `reload_s`,
    off the event loop), so a created or revoked key applies without a restart."""

    def __init__(self, path: Path, reload_s: float) -> None:
        self._path = path
        self._reload_s = reload_s
        self._keys: dict[str, KeyRecord] = {}
        self._signature: tuple[int, int, int] | None = None
        self._checked = -float("inf")

    async def get(self, key: str) -> KeyRecord | None:
        now = time.monotonic()
        if now - self._checked >= self._reload_s:
            self._checked = now
            await asyncio.to_thread(self._reload_if_changed)
        return self._keys.get(hash_key(key))

    def _reload_if_changed(self) -> None:
        try:
            st = self._path.stat()
        except FileNotFoundError:
            self._keys, self._signature = {}, None
            return
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature == self._signature:
            return
        try:
            self._keys = load_keys(self._path)
        except (OSError, ValueError, TypeError) as exc:
            # Keep the keys we had: a broken file must not lock every client out (or in).
            log.error("API key file %s could not be read, keeping the previous keys: %s", self._path, exc)
            return
        self._signature = signature
