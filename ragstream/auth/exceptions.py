from ragstream.exceptions import RagstreamError


class AuthError(RagstreamError):
    """A request could not be authenticated or is not allowed."""


class Unauthenticated(AuthError):
    """No valid credentials: HTTP 401."""


class Forbidden(AuthError):
    """Valid credentials without the right to do this: HTTP 403."""
