from __future__ import annotations

import typer

from ragstream.settings import get_settings

app = typer.Typer(help="Stream processors (faust-streaming workers).", no_args_is_help=True)


@app.command()
def run(loglevel: str = typer.Option("WARNING", help="Log level of the worker.")) -> None:
    """Run a stream worker. Start more of them to share the partitions (one consumer group)."""
    import faust

    from ragstream.apps import stream_worker
    from ragstream.malloc import cap_malloc_arenas
    from ragstream.observability.logging import configure_logging, logging_config

    cap_malloc_arenas()  # before the worker starts threads
    configure_logging(loglevel)
    faust_app = stream_worker(get_settings())
    faust.Worker(
        faust_app, loglevel=loglevel.upper(), quiet=True, logging_config=logging_config(loglevel)
    ).execute_from_commandline()
