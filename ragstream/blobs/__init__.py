"""Blob store port (ragstream.blobs.base) and its backends; `open_blob_store` picks one from settings."""

from __future__ import annotations

from ragstream.blobs.base import (
    BlobCorrupt,
    BlobError,
    BlobNotFound,
    BlobReference,
    BlobStore,
    digest,
)
from ragstream.blobs.local import LocalBlobStore
from ragstream.settings import BlobSettings

__all__ = [
    "BlobCorrupt",
    "BlobError",
    "BlobNotFound",
    "BlobReference",
    "BlobStore",
    "LocalBlobStore",
    "digest",
    "open_blob_store",
]


def open_blob_store(settings: BlobSettings) -> BlobStore:
    return LocalBlobStore(settings.dir)
