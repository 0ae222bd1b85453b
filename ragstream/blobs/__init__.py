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
    if settings.backend == "s3":
        from ragstream.blobs.s3 import S3BlobStore

        return S3BlobStore(
            bucket=settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region, access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            create_bucket=settings.s3_create_bucket,
        )  # fmt: skip
    return LocalBlobStore(settings.dir)
