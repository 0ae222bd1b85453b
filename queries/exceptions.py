from ragstream.exceptions import RagstreamError
from ragstream.topics import key_name


class QueryError(RagstreamError):
    """A query could not be served."""


class NotCaughtUp(QueryError):
    """The read models have not yet applied the write the caller asked to see."""

    def __init__(self, behind: dict[int, tuple[int, int]]) -> None:
        self.behind = behind
        detail = ", ".join(
            f"partition {key_name(p)}: at {a}, need {n}" for p, (a, n) in sorted(behind.items())
        )
        super().__init__(f"read models are behind the consistency token ({detail})")


class InvalidConsistencyToken(QueryError):
    """The token is malformed or names positions the commands topic does not have (HTTP 400)."""


class TokenCheckUnavailable(QueryError):
    """The commands topic's bounds cannot be read to check a consistency token (HTTP 503)."""
