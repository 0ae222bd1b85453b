from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from ragstream.kafka import create_topics
from ragstream.local import stack
from ragstream.settings import get_settings
from ragstream.topics import catalogue

app = typer.Typer(
    help="Run the local development stack (Kafka in KRaft mode, PostgreSQL).", no_args_is_help=True
)
console = Console()


@app.command()
def up(
    create_topics_too: bool = typer.Option(True, "--topics/--no-topics", help="Create the topic catalogue."),
    with_connect: bool = typer.Option(False, "--with-connect", help="Also run Kafka Connect with Debezium."),
    with_opensearch: bool = typer.Option(False, "--with-opensearch", help="Also run an OpenSearch node."),
) -> None:
    """Start every service that is not running yet, and wait until each is ready."""
    settings = get_settings()
    services = (
        stack.SERVICES + (("connect",) if with_connect else ()) + (("opensearch",) if with_opensearch else ())
    )
    try:
        for line in stack.up(settings, services):
            console.print(line)
    except stack.StackError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if create_topics_too:
        created = asyncio.run(create_topics(settings.kafka, catalogue(settings.kafka.topic_prefix).all()))
        for name in created:
            console.print(f"created topic {name}")
    _print_status()


@app.command()
def down() -> None:
    """Stop what the stack started (and nothing else)."""
    for line in stack.down(get_settings(), stack.SERVICES + stack.OPTIONAL_SERVICES):
        console.print(line)


@app.command("status")
def status_cmd() -> None:
    """Show whether each service runs, where it listens and where its logs are."""
    if not _print_status():
        raise typer.Exit(3)


def _print_status() -> bool:
    table = Table("service", "state", "detail")
    statuses = stack.status(get_settings())
    for s in statuses:
        table.add_row(s.name, "[green]running[/green]" if s.running else "[red]stopped[/red]", s.detail)
    console.print(table)
    return all(s.running for s in statuses)
