"""The blob store on an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...), with boto3.

Objects are keyed `<prefix><sha256>`; a put of bytes already stored only renews the object (a HEAD
first, then a copy onto itself), so re-sending a file costs no upload. Reads verify the digest, so a corrupted object is never extracted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ragstream.blobs.base import (
    BlobError,
    BlobNotFound,
    BlobReference,
    checked_digest,
    digest,
    is_digest,
    verified,
)

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    def __init__(
        self, *, bucket: str, prefix: str = "", endpoint_url: str = "", region: str = "",
        access_key_id: str = "", secret_access_key: str = "", create_bucket: bool = False,
    ) -> None:  # fmt: skip
        import boto3
        from botocore.config import Config

        self._bucket = bucket
        self._prefix = prefix
        options: dict[str, Any] = {"config": Config(retries={"max_attempts": 5, "mode": "standard"})}
        if endpoint_url:
            options["endpoint_url"] = endpoint_url
        if region:
            options["region_name"] = region
        if access_key_id:
            # Else boto3's usual chain: environment, shared config, instance or pod role.
            options.update(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
        self._client = boto3.client("s3", **options)
        if create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError:
            self._client.create_bucket(Bucket=self._bucket)

    def _key(self, sha256: str) -> str:
        return f"{self._prefix}{checked_digest(sha256)}"

    def put(self, data: bytes, media_type: str) -> BlobReference:
        sha = digest(data)
        key = self._key(sha)
        stored = self.exists(sha)
        try:
            if stored:
                # Written again: a copy onto itself renews LastModified, so the retention clock
                # (blobs.retention_days) starts over without uploading the bytes again.
                self._client.copy_object(
                    Bucket=self._bucket, Key=key, CopySource={"Bucket": self._bucket, "Key": key},
                    MetadataDirective="REPLACE", ContentType=media_type,
                )  # fmt: skip
            else:
                self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=media_type)
        except Exception as exc:  # botocore raises ClientError, EndpointConnectionError, ...
            raise BlobError(f"could not store blob {sha} in s3://{self._bucket}: {exc}") from exc
        return BlobReference(sha256=sha, size=len(data), media_type=media_type)

    def get(self, sha256: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key(sha256))
            data: bytes = response["Body"].read()
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                raise BlobNotFound(f"no blob {sha256} in s3://{self._bucket}/{self._prefix}") from None
            raise BlobError(f"could not read blob {sha256}: {exc}") from exc
        except Exception as exc:
            raise BlobError(f"could not read blob {sha256}: {exc}") from exc
        return verified(data, sha256)

    def sweep(self, older_than: datetime, *, dry_run: bool = False) -> list[str]:
        swept = []
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=self._prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = str(item["Key"]).removeprefix(self._prefix)
                if is_digest(name) and item["LastModified"] < older_than:
                    swept.append(name)
        if not dry_run:
            for first in range(0, len(swept), 1000):  # DeleteObjects takes at most 1000 keys
                keys = [{"Key": self._key(sha)} for sha in swept[first : first + 1000]]
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
        return sorted(swept)

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self._bucket, Key=self._key(sha256))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                return False
            raise BlobError(f"could not check blob {sha256}: {exc}") from exc
        return True
