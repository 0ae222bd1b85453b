"""The `ragstream` command line."""

from __future__ import annotations

import typer

from ragstream.cli import auth, connectors, logops, serve, stack, streams, topics
from ragstream.cli.ask import ask, search
from ragstream.cli.eval_bench import bench_app, compare_command, eval_command, keyword_command
from ragstream.cli.ingest import ingest
from ragstream.cli.status import status

app = typer.Typer(
    help="ragstream: live retrieval-augmented generation from a Kafka change log.", no_args_is_help=True
)
app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.add_typer(streams.app, name="streams")
app.add_typer(serve.app, name="serve")
app.add_typer(connectors.app, name="connectors")
app.add_typer(auth.app, name="auth")
app.command()(ingest)
app.command()(search)
app.command()(ask)
app.command()(status)
app.command()(logops.replay)
app.add_typer(logops.rebuild_app, name="rebuild")
app.add_typer(logops.generations_app, name="generations")
app.command()(logops.audit)
app.command("query-log")(logops.query_log)
app.command("eval")(eval_command)
app.command("eval-compare")(compare_command)
app.command("eval-keyword")(keyword_command)
app.add_typer(bench_app, name="bench")


if __name__ == "__main__":
    app()
