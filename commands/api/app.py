"""The command API: validates document changes and writes them to Kafka as Avro commands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ragstream.commands.api import files
from ragstream.commands.api.quota import QuotaUnavailable, WriteQuota
from ragstream.commands.api.routes import router
from ragstream.commands.exceptions import CommandNotWritten, InvalidCommand
from ragstream.commands.sdk import CommandProducer, WrittenCommand
from ragstream.contracts import DocumentCommand
from ragstream.http.problems import problem
from ragstream.http.service import create_service_app
from ragstream.observability.metrics import count_commands
from ragstream.settings import Settings, get_settings
from ragstream.topics import Lane


class _CountingProducer(CommandProducer):
    """Counts commands by outcome where the API writes them (the SDK also serves the CLI, which has
    no /metrics page to show them on)."""

    async def send_many(
        self, commands: Sequence[DocumentCommand], *, lane: Lane = Lane.INTERACTIVE
    ) -> list[WrittenCommand]:
        names = [c.avro_name for c in commands]
        try:
            written = await super().send_many(commands, lane=lane)
        except InvalidCommand:
            count_commands(names, "invalid")
            raise
        except CommandNotWritten:
            count_commands(names, "failed")
            raise
        count_commands(names, "written")
        return written


async def _ready(app: FastAPI) -> bool:
    producer: CommandProducer | None = getattr(app.state, "producer", None)
    quota: WriteQuota | None = getattr(app.state, "quota", None)
    return producer is not None and await producer.ping() and (quota is None or await quota.ping())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    limits = settings.limits

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = _CountingProducer(settings)
        await producer.start()
        quota = None
        try:
            if limits.enabled and limits.write_bytes_per_day:
                quota = await WriteQuota.connect(settings.postgres, limits.write_bytes_per_day)
            app.state.producer = producer
            app.state.quota = quota
            yield
        finally:
            if quota is not None:
                await quota.close()
            await producer.stop()

    app = create_service_app(
        title="ragstream command API",
        service="command-api",
        settings=settings,
        lifespan=lifespan,
        ready=_ready,
        body_limit=settings.api.max_command_body_bytes,
        rate_limits=(limits.commands_per_tenant, limits.commands_per_key),
        rate_unit="commands",
        errors={
            InvalidCommand: lambda exc: problem("validation", str(exc)),
            # Nothing was written; the command ids make a retry safe.
            CommandNotWritten: lambda exc: problem("unavailable", str(exc)),
            QuotaUnavailable: lambda exc: problem("unavailable", str(exc), headers={"Retry-After": "5"}),
        },
    )
    app.include_router(router)
    app.include_router(files.router)
    return app
