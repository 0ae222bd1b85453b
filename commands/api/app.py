"""The command API: validates document changes and writes them to Kafka as Avro commands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ragstream.commands.api.routes import router
from ragstream.commands.exceptions import CommandNotWritten, InvalidCommand
from ragstream.commands.sdk import CommandProducer, WrittenCommand
from ragstream.contracts import DocumentCommand
from ragstream.http import install_auth
from ragstream.observability.http import instrument_app
from ragstream.observability.metrics import count_commands
from ragstream.settings import Settings, get_settings


class _CountingProducer(CommandProducer):
    """Counts commands by outcome where the API writes them (the SDK also serves the CLI, which has
    no /metrics page to show them on)."""

    async def send_many(self, commands: Sequence[DocumentCommand]) -> list[WrittenCommand]:
        names = [c.avro_name for c in commands]
        try:
            written = await super().send_many(commands)
        except InvalidCommand:
            count_commands(names, "invalid")
            raise
        except CommandNotWritten:
            count_commands(names, "failed")
            raise
        count_commands(names, "written")
        return written


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = _CountingProducer(settings)
        await producer.start()
        app.state.producer = producer
        app.state.settings = settings
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(title="ragstream command API", version="1", lifespan=lifespan)
    install_auth(app, settings, "command API")
    app.include_router(router)

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next):  # type: ignore[no-untyped-def]
        # Reject oversized bodies before parsing them (header check; the model re-checks content).
        length = request.headers.get("content-length")
        limit = settings.api.max_document_bytes * 4
        if length is not None and length.isdigit() and int(length) > limit:
            return JSONResponse(
                {"detail": f"request body over {limit} bytes"}, status.HTTP_413_CONTENT_TOO_LARGE
            )
        return await call_next(request)

    instrument_app(app, "command-api")  # after the size limit, so rejected bodies are measured too

    @app.exception_handler(InvalidCommand)
    async def _invalid(_: Request, exc: InvalidCommand) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, 422)

    @app.exception_handler(CommandNotWritten)
    async def _not_written(_: Request, exc: CommandNotWritten) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"])
    async def ready(request: Request) -> JSONResponse:
        producer: CommandProducer | None = getattr(request.app.state, "producer", None)
        if producer is None or not await producer.ping():
            return JSONResponse({"status": "not ready", "kafka": "unreachable"}, 503)
        return JSONResponse({"status": "ready", "kafka": "ok"})

    return app
