from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
import uvicorn

from ragstream.malloc import cap_malloc_arenas
from ragstream.observability.logging import logging_config
from ragstream.settings import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(help="Run the HTTP services.", no_args_is_help=True)
GRACEFUL_SHUTDOWN_S = 10


def _serve(factory: Callable[[Settings], FastAPI], host: str, port: int) -> None:
    cap_malloc_arenas()  # before the app starts threads
    if not get_settings().auth.enabled:
        typer.secho(
            "WARNING: authentication is OFF (RAGSTREAM_AUTH__ENABLED=false, dev profile): "
            "tenant and principals are taken from request headers.",
            fg=typer.colors.RED, bold=True, err=True,
        )  # fmt: skip
    # Long-lived responses (streamed answers, a write's event stream) must not hold up a stop: they
    # are cut after this grace, and clients ask again. The loop is uvloop (a dependency; "auto"
    # falls back to asyncio's where it is not installed). The HTTP parser stays h11, whose limit on
    # the size of a request's head (16 KiB unless uvicorn is told otherwise) is part of what keeps an
    # unauthenticated caller from making the service hold memory.
    uvicorn.run(factory(get_settings()), host=host, port=port, log_level="warning", loop="auto", http="h11",
                log_config=logging_config("WARNING"), timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)  # fmt: skip


@app.command()
def commands(port: int = typer.Option(None, help="Port (default: settings api.command_port).")) -> None:
    """The command API: document changes in, Avro commands to Kafka."""
    from ragstream.apps import command_api

    api = get_settings().api
    _serve(command_api, api.command_host, port or api.command_port)


@app.command()
def queries(port: int = typer.Option(None, help="Port (default: settings api.query_port).")) -> None:
    """The query API: hybrid search and grounded answers from the read models."""
    from ragstream.apps import query_api

    api = get_settings().api
    _serve(query_api, api.query_host, port or api.query_port)


@app.command("schema-registry")
def schema_registry(
    port: int = typer.Option(None, help="Port (default: settings schema_registry.port)."),
) -> None:
    """The schema registry (Confluent-compatible API, Avro subjects, stored in PostgreSQL)."""
    from ragstream.schemaregistry.api import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.schema_registry.host, port=port or settings.schema_registry.port,
                log_level="warning", log_config=logging_config("WARNING"))  # fmt: skip
