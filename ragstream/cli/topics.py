from __future__ import annotations

import asyncio

import typer

from ragstream.cli.output import Col, console, emit, json_option, print_table
from ragstream.kafka import create_topics
from ragstream.settings import get_settings
from ragstream.topics import catalogue

app = typer.Typer(help="The Kafka topic catalogue.", no_args_is_help=True)


@app.command()
def create() -> None:
    """Create every catalogue topic that does not exist yet."""
    settings = get_settings()
    created = asyncio.run(create_topics(settings.kafka, catalogue(settings.kafka.topic_prefix).all()))
    console.print(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@app.command("list")
def list_topics(json_output: bool = json_option()) -> None:
    """Show the catalogue: names, cleanup policy, retention and purpose."""
    specs = catalogue(get_settings().kafka.topic_prefix).all()
    if json_output:
        emit([{"name": s.name, "cleanup": s.cleanup.value, "retention_ms": s.retention_ms,
               "purpose": s.purpose} for s in specs])  # fmt: skip
        return
    rows = [
        [s.name, s.cleanup.value, "forever" if s.retention_ms < 0 else f"{s.retention_ms // 86_400_000}d",
         s.purpose]
        for s in specs
    ]  # fmt: skip
    cols = [Col("topic", 9, wrap=True, min_width=20), Col("cleanup", 6), Col("retention", 7),
            Col("purpose", 5, wrap=True, min_width=20)]  # fmt: skip
    print_table(cols, rows)
