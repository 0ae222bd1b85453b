"""A JWKS endpoint served from a local HTTP server, and RSA keys to sign tokens with: an identity
provider for tests, real enough for PyJWT and the services to fetch from."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://idp.test"
AUDIENCE = "ragstream"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def new(cls) -> SigningKey:
        return cls(uuid.uuid4().hex[:8], rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, **claims: Any) -> str:
        body = {"sub": "ann", "tenant": "acme", "groups": ["eng"], "scope": "read", "iss": ISSUER,
                "aud": AUDIENCE, "exp": int(time.time()) + 300, **claims}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": self.kid})


@dataclass
class JwksServer:
    url: str
    keys: list[SigningKey]
    requests: list[float] = field(default_factory=list)
    delay_s: float = 0.0


@contextmanager
def jwks_server(*keys: SigningKey) -> Iterator[JwksServer]:
    """Serves `{"keys": [...]}` of whatever `server.keys` holds at the time of each request."""
    state = JwksServer("", list(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(time.monotonic())
            time.sleep(state.delay_s)
            body = json.dumps({"keys": [k.jwk() for k in state.keys]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
