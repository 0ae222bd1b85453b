"""The blob store port: immutable, content-addressed bytes of binary documents (the claim check).

A command too large to carry its bytes carries a `BlobReference` instead; the writer stores the bytes
first, keyed by their SHA-256, and the stream workers read them back. Blobs never change, so replaying
the log later reads (and extracts) exactly the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SHA256 = re.compile(SHA256_PATTERN)


class BlobError(Exception):
    """A blob could not be stored or read."""


class BlobNotFound(BlobError):
    """No blob with that digest (never stored, or past its retention)."""


class BlobCorrupt(BlobError):
    """The stored bytes do not hash to their digest."""


class BlobReference(BaseModel):
    """What a command carries instead of the bytes: their digest, size and media type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
    size: Annotated[int, Field(ge=0)]
    media_type: Annotated[str, StringConstraints(min_length=1, max_length=255)]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_digest(name: str) -> bool:
    return _SHA256.match(name) is not None


def checked_digest(sha256: str) -> str:
    """The digest, refused unless it is 64 hex digits (it becomes a file name or object key)."""
    if not _SHA256.match(sha256):
        raise BlobError(f"not a SHA-256 digest: {sha256!r}")
    return sha256


def verified(data: bytes, sha256: str) -> bytes:
    if digest(data) != sha256:
        raise BlobCorrupt(f"blob {sha256} does not match its digest")
    return data


class BlobStore(Protocol):
    """Synchronous on purpose: callers on an event loop run it in a thread (asyncio.to_thread)."""

    def put(self, data: bytes, media_type: str) -> BlobReference:
        """Store the bytes (idempotent: the same bytes are the same blob) and return their reference."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes, verified against their digest; raises BlobNotFound."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def sweep(self, older_than: datetime, *, dry_run: bool = False) -> list[str]:
        """Delete the blobs last written before `older_than` (a put of bytes already stored counts
        as a write); returns their digests."""
        ...
