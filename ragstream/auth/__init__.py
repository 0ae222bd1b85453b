"""Authentication for both HTTP APIs: API keys (hashed at rest) and JWT bearer tokens."""

from ragstream.auth.exceptions import AuthError, Forbidden, Unauthenticated
from ragstream.auth.identity import Identity, authenticate

__all__ = ["AuthError", "Forbidden", "Identity", "Unauthenticated", "authenticate"]
