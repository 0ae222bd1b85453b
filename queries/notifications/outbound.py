"""Outbound safety for webhook deliveries: where ragstream may send a request, and how.

- Only http and https URLs without credentials in them.
- A target is resolved at every connection and refused if any of its addresses is not public
  (private, loopback, link-local, shared, reserved, multicast; IPv4-mapped IPv6 included), unless
  `notifications.allow_private_targets` is on. The check sits in the connection itself (an httpcore
  network backend that connects to the address it checked), so a name that resolves differently
  between a check and the connection (DNS rebinding) cannot slip through; TLS still verifies the
  certificate against the host name.
- Environment proxies are ignored (a proxy would resolve the name itself).
- Redirects are followed only to the same origin (scheme, host, port), at most `max_redirects` times.
- One attempt, redirects included, must finish within `timeout_s`; at most `max_bytes` of an answer
  are read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpcore
import httpx

MAX_URL_CHARS = 2048
EXCERPT_BYTES = 1024


class TargetRefused(Exception):
    """The outbound policy refuses the target (scheme, credentials, a non-public address)."""


def check_url(url: str) -> httpx.URL:
    """The URL parsed, if it is one ragstream may post to (addresses are checked when connecting)."""
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decoding an IDNA name can fail too
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs can receive webhooks")
    if not host:
        raise TargetRefused("the URL has no host")
    if parsed.userinfo:
        raise TargetRefused("credentials in the URL are not allowed; authenticate receivers by signature")
    return parsed


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to connect to; TargetRefused if the name does not resolve, or if any address
    is not public and private targets are not allowed."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:  # ValueError: a name IDNA cannot encode, or with NUL in it
        raise TargetRefused(f"{host} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if not allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise TargetRefused(f"{host} resolves to a non-public address ({refused[0]})")
    return addresses


class GuardedNetwork(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy allows, checked at connection time."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await resolve(host, port, allow_private=self._allow_private):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool) -> None:
        super().__init__(trust_env=False)
        # httpx has no option for the network backend; its transport sends through `_pool`.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedNetwork(allow_private=allow_private),
            max_keepalive_connections=4,
            keepalive_expiry=30.0,
        )


def guarded_client(*, allow_private: bool) -> httpx.AsyncClient:
    """An HTTP client for one endpoint's deliveries (each endpoint has its own: nothing shared)."""
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=allow_private), follow_redirects=False, trust_env=False
    )


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status (None: no answer), the start of the answer, or the error."""

    status: int | None
    excerpt: str = ""
    error: str = ""
    # From a 429 or 503's Retry-After, when it gives seconds.
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


async def _read(response: httpx.Response, max_bytes: int) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= max_bytes:
            break  # the rest is never read; the connection is closed with the response
    return bytes(data[:max_bytes])


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    max_redirects: int,
    max_bytes: int,
) -> Outcome:
    """One delivery attempt; never raises for the target's faults, it reports them."""
    try:
        target = check_url(url)
        async with asyncio.timeout(timeout_s):
            for _ in range(max_redirects + 1):
                async with client.stream("POST", target, content=body, headers=dict(headers)) as response:
                    data = await _read(response, max_bytes)
                    excerpt = data[:EXCERPT_BYTES].decode(errors="replace")
                    location = response.headers.get("location")
                    if not (response.is_redirect and location):
                        return Outcome(response.status_code, excerpt, retry_after_s=_retry_after(response))
                    following = target.join(location)
                    if not _same_origin(target, following):
                        return Outcome(response.status_code, excerpt, "redirect to another origin refused")
                    target = following
            return Outcome(None, error=f"more than {max_redirects} redirects")
    except TimeoutError:
        return Outcome(None, error=f"no complete answer within {timeout_s:g}s")
    except TargetRefused as exc:
        return Outcome(None, error=f"refused: {exc}")
    except httpx.HTTPError as exc:
        return Outcome(None, error=f"{type(exc).__name__}: {exc}"[:500])
