from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from ragstream.kafka import create_topics
from ragstream.settings import get_settings
from ragstream.topics import catalogue

app = typer.Typer(help="The Kafka topic catalogue.", no_args_is_help=True)
console = Console()


@app.command()
def create() -> None:
    """Create every catalogue topic that does not exist yet."""
    settings = get_settings()
    created = asyncio.run(create_topics(settings.kafka, catalogue(settings.kafka.topic_prefix).all()))
    console.print(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@app.command("list")
def list_topics() -> None:
    """Show the catalogue: names, cleanup policy, retention and purpose."""
    settings = get_settings()
    table = Table("topic", "cleanup", "retention", "purpose")
    for spec in catalogue(settings.kafka.topic_prefix).all():
        retention = "forever" if spec.retention_ms < 0 else f"{spec.retention_ms // 86_400_000}d"
        table.add_row(spec.name, spec.cleanup.value, retention, spec.purpose)
    console.print(table)
