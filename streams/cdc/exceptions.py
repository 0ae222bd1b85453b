"""Errors of the change-data-capture bridge (Debezium change events -> document commands)."""

from __future__ import annotations

from ragstream.exceptions import RagstreamError


class CdcError(RagstreamError):
    """Base class for change-data-capture failures."""


class InvalidMapping(CdcError):
    """A mapping file is missing, unreadable or breaks the mapping format; nothing was applied."""


class UnconvertibleEvent(CdcError):
    """One change event cannot become a command (missing column, bad value); it is dead-lettered."""


class ConnectError(CdcError):
    """The Kafka Connect REST API refused a request or could not be reached."""
