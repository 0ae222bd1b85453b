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
    backends: str = typer.Option(
        "auto,torch-fp32", "--backends", help="Encoder backends, one pipeline each (auto: the default)."
    ),
    formats: bool = typer.Option(
        False, "--formats", help="Ingest generated PDFs instead (uploads, extraction): pages/s and chunks/s."
    ),
    pages: int = typer.Option(10, "--pages", min=1, help="With --formats: pydoc topics per PDF."),
    json_output: bool = JSON,
    plot: Path | None = PLOT,
) -> None:
    """Pipeline chunks/s end to end against raw model throughput on the same chunks, per backend; with
    --formats, pages/s and chunks/s of PDFs (--docs of them)."""
    if formats:
        from ragstream.bench import formats as pdfs

        emit(pdfs.run(docs, pages, workers), json_output)
        return
    from ragstream.bench import ingest as bench
    from ragstream.embedding.backends import BACKENDS

    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if unknown := [b for b in chosen if b != "auto" and b not in BACKENDS]:
        raise typer.BadParameter(f"unknown backends {unknown}; auto or one of {', '.join(BACKENDS)}")
    finish(bench.run(docs, workers, profile, chosen), json_output, plot)


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


@bench_app.command("chunk")
def chunk(
    docs: int = typer.Option(160, "--docs", min=1, help="Documents of the bench corpus."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Timed passes over them."),
    json_output: bool = JSON,
) -> None:
    """Chunking cost per document (the worker's policy and model-token budgets), no Kafka."""
    from ragstream.bench import chunk as bench

    emit(bench.run(docs, rounds), json_output)


@bench_app.command("filtered")
def filtered(
    queries: int = typer.Option(200, "--queries", min=1, help="Held-out vectors searched per filter."),
    json_output: bool = JSON,
) -> None:
    """Recall of filtered vector searches against exact ones, on the vectors evaluations cached."""
    from ragstream.bench import filtered as bench

    try:
        result = bench.run(queries)
    except bench.NoVectors as exc:
        raise typer.BadParameter(str(exc)) from exc
    emit(result, json_output)


@bench_app.command("freshness")
def freshness(
    rate: float = typer.Option(2.0, "--rate", min=0.1, max=100.0, help="Documents written per second."),
    duration: float = typer.Option(60.0, "--duration", min=1.0, help="Seconds measured, after a warm-up."),
    under_bulk: bool = typer.Option(
        False,
        "--under-bulk",
        help="Measure only the edits sent while a bulk import runs (--duration caps the wait).",
    ),
    bulk_chunks: int = typer.Option(2000, "--bulk-chunks", min=1, help="Chunks of that bulk import."),
    json_output: bool = JSON,
    plot: Path | None = PLOT,
) -> None:
    """Write -> searchable latency percentiles at a steady write load (optionally under a bulk import)."""
    from ragstream.bench import freshness as bench

    finish(bench.run(rate, duration, bulk_chunks=bulk_chunks if under_bulk else 0), json_output, plot)


@bench_app.command("query")
def query(
    sizes: str = typer.Option("10000,100000", "--sizes", help="Comma-separated index sizes in chunks."),
    queries: int = typer.Option(200, "--queries", min=1, help="Timed searches and answers per size."),
    http: bool = typer.Option(
        False, "--http", help="Through a query API process over HTTP instead of QueryService in-process."
    ),
    json_output: bool = JSON,
    plot: Path | None = PLOT,
) -> None:
    """Search and answer latency and qps at each index size (synthetic vectors, real query embedding)."""
    try:
        parsed = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise typer.BadParameter("sizes must be integers", param_hint="--sizes") from exc
    if http:
        from ragstream.bench import query_http

        finish(query_http.run(parsed, queries), json_output, plot)
    else:
        from ragstream.bench import query as bench

        finish(bench.run(parsed, queries), json_output, plot)


@bench_app.command("rebuild")
def rebuild(
    chunks: int = typer.Option(50000, "--chunks", "--size", min=1, help="Synthetic chunks to replay."),
    prefix: str | None = typer.Option(None, "--prefix", help="Replay this pipeline's topic instead."),
    path: str = typer.Option("both", "--path", help="projector, admin (a query API's rebuild) or both."),
    json_output: bool = JSON,
) -> None:
    """Replay the embeddings topic into a fresh index generation and build HNSW (no model)."""
    from ragstream.bench import rebuild as bench

    if path not in ("projector", "admin", "both"):
        raise typer.BadParameter("path must be projector, admin or both", param_hint="--path")
    emit(bench.run(chunks, prefix, path), json_output)


@bench_app.command("encoder")
def encoder(
    backends: str = typer.Option(
        "torch-fp32,torch-bf16,onnx-fp32,onnx-int8", "--backends", help="Comma-separated backends."
    ),
    texts: int = typer.Option(256, "--texts", min=8, help="Chunk texts embedded per round."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Interleaved rounds (median reported)."),
    queries: int = typer.Option(100, "--queries", min=1, help="Single-query embeddings per backend."),
    json_output: bool = JSON,
) -> None:
    """Encoder backends side by side: passages/s, query p50/p99, peak memory, cosine to fp32."""
    from ragstream.bench import encoder as bench
    from ragstream.embedding.backends import BACKENDS

    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if unknown := [b for b in chosen if b not in BACKENDS]:
        raise typer.BadParameter(f"unknown backends {unknown}; one of {', '.join(BACKENDS)}")
    emit(bench.run(chosen, texts, rounds, queries), json_output)


@bench_app.command("plot")
def plot_saved(
    result: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Output of `eval --json` (its last line)."
    ),
    out: Path = typer.Argument(..., file_okay=False, help="Folder for the PNG files."),
) -> None:
    """Draw a saved eval report again (nDCG@10 per mode, the fusion sweep, latency)."""
    import json

    from ragstream.bench.plots import plot_eval

    lines = [line for line in result.read_text().splitlines() if line.startswith("{")]
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or "results" not in report:
        raise typer.BadParameter("no eval report (a JSON line of `ragstream eval --json`) in the file")
    for path in plot_eval(report, out):
        typer.echo(f"plot: {path}")
