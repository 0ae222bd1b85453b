"""The default blob store: one file per blob in a local (or shared, mounted) directory."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from ragstream.blobs.base import BlobNotFound, BlobReference, checked_digest, digest, is_digest, verified


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, sha256: str) -> Path:
        # Two levels of fan-out keep directories small.
        sha = checked_digest(sha256)
        return self._root / sha[:2] / sha[2:4] / sha

    def put(self, data: bytes, media_type: str) -> BlobReference:
        sha = digest(data)
        path = self._path(sha)
        if path.exists():
            # Written again: the retention clock (blobs.retention_days) starts over.
            os.utime(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a reader never sees half a blob, and concurrent writers of the
            # same bytes both end with the one complete file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return BlobReference(sha256=sha, size=len(data), media_type=media_type)

    def get(self, sha256: str) -> bytes:
        try:
            data = self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256} in {self._root}") from None
        return verified(data, sha256)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def sweep(self, older_than: datetime, *, dry_run: bool = False) -> list[str]:
        cutoff = older_than.timestamp()
        swept = []
        for path in sorted(self._root.glob("??/??/*")):
            if is_digest(path.name) and path.stat().st_mtime < cutoff:
                swept.append(path.name)
                if not dry_run:
                    path.unlink(missing_ok=True)
        return swept
