from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ragstream.auth import Identity
from ragstream.commands.api.quota import WriteQuota
from ragstream.commands.sdk import CommandProducer
from ragstream.http.ratelimit import RateLimiter
from ragstream.http.security import Writer
from ragstream.settings import Settings


async def get_producer(request: Request) -> CommandProducer:
    producer: CommandProducer = request.app.state.producer
    return producer


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass
class WriteBudget:
    """What one write request spends: a token per command from the rate limits, and its body's
    bytes from the tenant's daily quota."""

    writer: Identity
    body_bytes: int
    limiter: RateLimiter | None
    quota: WriteQuota | None

    async def charge(self, commands: int) -> None:
        if self.limiter is not None:
            self.limiter.take(self.writer.tenant, self.writer.subject, commands)
        if self.quota is not None and self.body_bytes:
            await self.quota.charge(self.writer.tenant, self.body_bytes)


async def get_budget(request: Request, writer: Writer) -> WriteBudget:
    state = request.app.state
    try:
        size = len(await request.body())
    except RuntimeError:  # a multipart form was parsed from the stream: count what the body limit saw
        size = int(getattr(request.state, "body_bytes", 0) or request.headers.get("content-length") or 0)
    return WriteBudget(writer, size, getattr(state, "rate_limiter", None), getattr(state, "quota", None))


ProducerDep = Annotated[CommandProducer, Depends(get_producer)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
BudgetDep = Annotated[WriteBudget, Depends(get_budget)]
