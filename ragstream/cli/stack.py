from __future__ import annotations

import asyncio
from dataclasses import asdict

import typer

from ragstream.cli.output import Col, ExitCode, console, emit, json_option, print_table
from ragstream.kafka import create_topics
from ragstream.local import stack
from ragstream.settings import get_settings
from ragstream.topics import catalogue

app = typer.Typer(
    help="Run the local development stack (Kafka in KRaft mode, PostgreSQL).", no_args_is_help=True
)


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
def status_cmd(json_output: bool = json_option()) -> None:
    """Show whether each service runs, where it listens and where its logs are (exit 1 if one does not)."""
    if not _print_status(json_output):
        raise typer.Exit(ExitCode.ERROR)


def _print_status(json_output: bool = False) -> bool:
    statuses = stack.status(get_settings())
    if json_output:
        emit([asdict(s) for s in statuses])
    else:
        rows = [[s.name, "[green]running[/green]" if s.running else "[red]stopped[/red]", s.detail]
                for s in statuses]  # fmt: skip
        print_table([Col("service", 9), Col("state", 8), Col("detail", 3, wrap=True, min_width=20)], rows)
    return all(s.running for s in statuses)
