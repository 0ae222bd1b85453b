"""The `ragstream bench` sub-commands; each ends with one JSON object on the last line."""

from __future__ import annotations

from pathlib import Path

import typer

from ragstream.bench.stats import emit

bench_app = typer.Typer(
    help="Performance benchmarks on this machine and the local stack; --json prints one JSON line.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print the result as one JSON object on the last line.")


@bench_app.command("ingest")
def ingest(
    docs: int = typer.Option(160, "--docs", min=1, help="Documents (pydoc topics and marked copies)."),
    workers: int = typer.Option(1, "--workers", min=1, max=8),
    profile: Path | None = typer.Option(
        None, "--profile", help="Sample each pipeline process with py-spy into this folder while timed."
    ),
    json_output: bool = JSON,
) -> None:
    """Pipeline chunks/s end to end against raw model throughput on the same chunks."""
    from ragstream.bench import ingest as bench

    emit(bench.run(docs, workers, profile), json_output)


@bench_app.command("produce")
def produce(
    commands: int = typer.Option(5000, "--commands", min=1, help="Commands written for the throughput."),
    batch: int = typer.Option(500, "--batch", min=1, help="Commands per send_many call."),
    acks: int = typer.Option(300, "--acks", min=1, help="Single sends timed from call to ack."),
    json_output: bool = JSON,
) -> None:
    """The producer SDK on confluent-kafka and on aiokafka: commands/s and ack latency."""
    from ragstream.bench import produce as bench

    emit(bench.run(commands, batch, acks), json_output)


@bench_app.command("reingest")
def reingest(
    docs: int = typer.Option(160, "--docs", min=1),
    edited: float = typer.Option(0.1, "--edited", min=0.01, max=1.0, help="Fraction of documents edited."),
    json_output: bool = JSON,
) -> None:
    """Re-ingest an unchanged corpus and one with a fraction of documents edited."""
    from ragstream.bench import reingest as bench

    emit(bench.run(docs, edited), json_output)


@bench_app.command("freshness")
def freshness(
    rate: float = typer.Option(2.0, "--rate", min=0.1, max=100.0, help="Documents written per second."),
    duration: float = typer.Option(60.0, "--duration", min=1.0, help="Seconds measured, after a warm-up."),
    json_output: bool = JSON,
) -> None:
    """Write -> searchable latency percentiles at a steady write load."""
    from ragstream.bench import freshness as bench

    emit(bench.run(rate, duration), json_output)


@bench_app.command("query")
def query(
    sizes: str = typer.Option("10000,100000", "--sizes", help="Comma-separated index sizes in chunks."),
    queries: int = typer.Option(200, "--queries", min=1, help="Timed searches and answers per size."),
    json_output: bool = JSON,
) -> None:
    """Search and answer latency and qps at each index size (synthetic vectors, real query embedding)."""
    from ragstream.bench import query as bench

    try:
        parsed = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise typer.BadParameter("sizes must be integers", param_hint="--sizes") from exc
    emit(bench.run(parsed, queries), json_output)


@bench_app.command("rebuild")
def rebuild(
    chunks: int = typer.Option(50000, "--chunks", "--size", min=1, help="Synthetic chunks to replay."),
    prefix: str | None = typer.Option(None, "--prefix", help="Replay this pipeline's topic instead."),
    json_output: bool = JSON,
) -> None:
    """Replay the embeddings topic into a fresh index generation (no model)."""
    from ragstream.bench import rebuild as bench

    emit(bench.run(chunks, prefix), json_output)
