"""The `ragstream bench` sub-commands; each ends with one JSON object on the last line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ragstream.bench.stats import emit

bench_app = typer.Typer(
    help="Performance benchmarks on this machine and the local stack; --json prints one JSON line.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print the result as one JSON object on the last line.")
PLOT = typer.Option(None, "--plot", file_okay=False, help="Also write PNG charts of the result into DIR.")


def finish(result: dict[str, Any], json_output: bool, plot: Path | None) -> None:
    """Prints the result (its raw samples left out) and draws it when asked."""
    from ragstream.bench.plots import plot_bench, take_samples

    samples = take_samples(result)
    emit(result, json_output)
    if plot is not None:
        for path in plot_bench(result, samples, plot):
            typer.echo(f"plot: {path}", err=True)


@bench_app.command("ingest")
def ingest(
    docs: int = typer.Option(160, "--docs", min=1, help="Documents (pydoc topics and marked copies)."),
    workers: int = typer.Option(1, "--workers", min=1, max=8),
    profile: Path | None = typer.Option(
        None, "--profile", help="Sample each pipeline process with py-spy into this folder while timed."
    ),
    json_output: bool = JSON,
    plot: Path | None = PLOT,
) -> None:
    """Pipeline chunks/s end to end against raw model throughput on the same chunks."""
    from ragstream.bench import ingest as bench

    finish(bench.run(docs, workers, profile), json_output, plot)


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
    plot: Path | None = PLOT,
) -> None:
    """Write -> searchable latency percentiles at a steady write load."""
    from ragstream.bench import freshness as bench

    finish(bench.run(rate, duration), json_output, plot)


@bench_app.command("query")
def query(
    sizes: str = typer.Option("10000,100000", "--sizes", help="Comma-separated index sizes in chunks."),
    queries: int = typer.Option(200, "--queries", min=1, help="Timed searches and answers per size."),
    json_output: bool = JSON,
    plot: Path | None = PLOT,
) -> None:
    """Search and answer latency and qps at each index size (synthetic vectors, real query embedding)."""
    from ragstream.bench import query as bench

    try:
        parsed = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise typer.BadParameter("sizes must be integers", param_hint="--sizes") from exc
    finish(bench.run(parsed, queries), json_output, plot)


@bench_app.command("rebuild")
def rebuild(
    chunks: int = typer.Option(50000, "--chunks", "--size", min=1, help="Synthetic chunks to replay."),
    prefix: str | None = typer.Option(None, "--prefix", help="Replay this pipeline's topic instead."),
    json_output: bool = JSON,
) -> None:
    """Replay the embeddings topic into a fresh index generation (no model)."""
    from ragstream.bench import rebuild as bench

    emit(bench.run(chunks, prefix), json_output)


@bench_app.command("plot")
def plot_saved(
    result: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSON of `eval --json` (its last line)."
    ),
    out: Path = typer.Argument(..., file_okay=False, help="Folder for the PNG files."),
) -> None:
    """Draw a saved eval report again (nDCG@10 per mode, the fusion sweep, latency)."""
    import json

    from ragstream.bench.plots import plot_eval

    lines = [line for line in result.read_text().splitlines() if line.startswith("{")]
    if not lines:
        raise typer.BadParameter("no JSON object in the file", param_hint="RESULT")
    for path in plot_eval(json.loads(lines[-1]), out):
        typer.echo(f"plot: {path}")
