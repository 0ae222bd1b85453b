"""Outbound safety of webhook deliveries against a real HTTP server on 127.0.0.1: private targets
refused by default (after DNS resolution, at connection time), redirects kept to one origin,
answers read only up to a limit, one attempt bounded in time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from ragstream.queries.notifications.outbound import (
    TargetRefused,
    check_url,
    guarded_client,
    is_public,
    post,
    resolve,
)

pytestmark = pytest.mark.unit


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="received " + (await request.text()))

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b"x" * 1024)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    async def here(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "/ok"})

    async def away(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "http://127.0.0.2:9/elsewhere"})

    async def loop(request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": "/loop"})

    app = web.Application()
    for path, handler in [("/ok", ok), ("/big", big), ("/slow", slow), ("/here", here), ("/away", away),
                          ("/loop", loop)]:  # fmt: skip
        app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def send(url: str, *, allow_private: bool = True, timeout_s: float = 2.0, max_bytes: int = 4096):  # type: ignore[no-untyped-def]
    async with guarded_client(allow_private=allow_private) as client:
        return await post(
            client, url, b"hello", {}, timeout_s=timeout_s, max_redirects=3, max_bytes=max_bytes
        )


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "240.0.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


def test_public_addresses_are() -> None:
    assert is_public("93.184.216.34") and is_public("2606:4700::1111")


@pytest.mark.parametrize(
    ("url", "reason"),
    [("ftp://example.com/x", "only http and https"), ("file:///etc/passwd", "only http and https"),
     ("http://user:pw@example.com/", "credentials"), ("http:///path", "no host"), ("x" * 3000, "longer")],
)  # fmt: skip
def test_urls_other_than_plain_http_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        check_url(url)


async def test_loopback_is_refused_unless_allowed_even_by_a_name_that_resolves_to_it(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    for url in (f"{server}/ok", f"http://localhost:{port}/ok"):
        refused = await send(url, allow_private=False)
        assert refused.status is None and "non-public address" in refused.error
    with pytest.raises(TargetRefused, match="non-public"):
        await resolve("localhost", int(port), allow_private=False)
    allowed = await send(f"{server}/ok")
    assert (allowed.ok, allowed.excerpt) == (True, "received hello")


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    outcome = await send("http://does-not-exist.invalid/hook")
    assert outcome.status is None and "does not resolve" in outcome.error


async def test_redirects_stay_on_the_same_origin(server: str) -> None:
    assert (await send(f"{server}/here")).excerpt == "received hello"  # followed, the body re-sent
    away = await send(f"{server}/away")
    assert (away.status, away.ok, away.error) == (307, False, "redirect to another origin refused")
    looping = await send(f"{server}/loop")
    assert looping.status is None and "more than 3 redirects" in looping.error


async def test_an_answer_is_read_only_up_to_the_limit_and_an_attempt_is_bounded(server: str) -> None:
    big = await send(f"{server}/big", max_bytes=2048)
    assert big.ok and len(big.excerpt) == 1024  # the log keeps the first KiB of what was read
    started = asyncio.get_running_loop().time()
    slow = await send(f"{server}/slow", timeout_s=0.5)
    assert slow.status is None and "within 0.5s" in slow.error
    assert asyncio.get_running_loop().time() - started < 2
