"""API keys: shown once when created, stored only as SHA-256 hashes with their tenant and rights."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "rsk_"


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


def load_keys(path: Path) -> dict[str, KeyRecord]:
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {digest: KeyRecord(**record) for digest, record in raw.items()}


def create_key(path: Path, *, name: str, tenant: str, principals: list[str], scopes: list[str]) -> str:
    """Returns the new key; only its hash is written (file mode 0600)."""
    key = PREFIX + secrets.token_urlsafe(32)
    keys = load_keys(path)
    keys[hash_key(key)] = KeyRecord(name, tenant, principals, scopes, datetime.now(UTC).isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({d: asdict(r) for d, r in keys.items()}, indent=2))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key


def revoke_key(path: Path, name: str) -> int:
    keys = load_keys(path)
    kept = {d: r for d, r in keys.items() if r.name != name}
    path.write_text(json.dumps({d: asdict(r) for d, r in kept.items()}, indent=2))
    return len(keys) - len(kept)
