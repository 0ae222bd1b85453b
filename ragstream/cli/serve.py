from __future__ import annotations

import typer
import uvicorn

from ragstream.observability.logging import logging_config
from ragstream.settings import get_settings

app = typer.Typer(help="Run the HTTP services.", no_args_is_help=True)


def _warn_if_open() -> None:
    if not get_settings().auth.enabled:
        typer.secho(
            "WARNING: authentication is OFF (RAGSTREAM_AUTH__ENABLED=false, dev profile): "
            "tenant and principals are taken from request headers.",
            fg=typer.colors.RED, bold=True, err=True,
        )  # fmt: skip


@app.command()
def commands(port: int = typer.Option(None, help="Port (default: settings api.command_port).")) -> None:
    """The command API: document changes in, Avro commands to Kafka."""
    from ragstream.apps import command_api

    settings = get_settings()
    _warn_if_open()
    uvicorn.run(command_api(settings), host=settings.api.command_host, port=port or settings.api.command_port,
                log_level="warning", log_config=logging_config("WARNING"))  # fmt: skip


@app.command()
def queries(port: int = typer.Option(None, help="Port (default: settings api.query_port).")) -> None:
    """The query API: hybrid search and grounded answers from the read models."""
    from ragstream.apps import query_api

    settings = get_settings()
    _warn_if_open()
    uvicorn.run(query_api(settings), host=settings.api.query_host, port=port or settings.api.query_port,
                log_level="warning", log_config=logging_config("WARNING"))  # fmt: skip
