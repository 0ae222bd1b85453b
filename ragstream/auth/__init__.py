"""Authentication for both HTTP APIs: API keys (hashed at rest) and JWT bearer tokens."""

from ragstream.auth.authenticator import Authenticator
from ragstream.auth.exceptions import AuthError, AuthUnavailable, Forbidden, Unauthenticated
from ragstream.auth.identity import ADMIN, OPERATOR, READ, SCOPES, WRITE, Identity

__all__ = [
    "ADMIN",
    "OPERATOR",
    "READ",
    "SCOPES",
    "WRITE",
    "AuthError",
    "AuthUnavailable",
    "Authenticator",
    "Forbidden",
    "Identity",
    "Unauthenticated",
]
