from ragstream.exceptions import RagstreamError


class AuthError(RagstreamError):
    """A request could not be authenticated or is not allowed."""


class Unauthenticated(AuthError):
    """No valid credentials: HTTP 401."""


class Forbidden(AuthError):
    """Valid credentials without the right to do this: HTTP 403."""


class AuthUnavailable(AuthError):
    """The credentials cannot be checked right now (the identity provider's keys are unreachable):
    HTTP 503, so clients retry instead of discarding a token that may be valid."""
