"""The HTTP layer both APIs share (see service.py): problems, credentials, limits, ops routes."""

from typing import Annotated

from fastapi import Path

from ragstream.identifiers import DOCUMENT_ID_MAX_LENGTH, DOCUMENT_ID_PATTERN

# A document id in a URL path (`/v1/documents/{document_id:path}`).
DocumentPath = Annotated[
    str, Path(min_length=1, max_length=DOCUMENT_ID_MAX_LENGTH, pattern=DOCUMENT_ID_PATTERN)
]

__all__ = ["DocumentPath"]
