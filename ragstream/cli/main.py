"""The `ragstream` command line."""

from __future__ import annotations

import typer

from ragstream.cli import auth, blobs, connectors, logops, serve, stack, streams, topics, webhooks
from ragstream.cli.ask import ask, search
from ragstream.cli.eval_bench import bench_app, compare_command, eval_command, keyword_command
from ragstream.cli.ingest import ingest
from ragstream.cli.output import EXIT_CODES_HELP, CliGroup
from ragstream.cli.profile import config_app, login, logout, whoami
from ragstream.cli.status import status
from ragstream.client.base import client_version

app = typer.Typer(
    cls=CliGroup,
    help="ragstream: live retrieval-augmented generation from a Kafka change log.\n\n"
    "Commands that call the APIs use RAGSTREAM_API_KEY (or RAGSTREAM_TOKEN) or a profile stored by"
    " `ragstream login`, and act for that credential's tenant. Add --json for machine-readable output.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ragstream {client_version()}")
        raise typer.Exit()


@app.callback()
def main(
    profile: str | None = typer.Option(
        None, "--profile", help="Profile to use (default: RAGSTREAM_PROFILE, then the current one)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """ragstream: live retrieval-augmented generation from a Kafka change log."""


app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.add_typer(blobs.app, name="blobs")
app.add_typer(streams.app, name="streams")
app.add_typer(serve.app, name="serve")
app.add_typer(connectors.app, name="connectors")
app.add_typer(auth.app, name="auth")
app.command()(login)
app.command()(logout)
app.command()(whoami)
app.add_typer(config_app, name="config")
app.command()(ingest)
app.command()(search)
app.command()(ask)
app.command()(status)
app.command()(logops.replay)
app.add_typer(logops.rebuild_app, name="rebuild")
app.add_typer(logops.generations_app, name="generations")
app.command()(logops.audit)
app.command("query-log")(logops.query_log)
app.add_typer(webhooks.app, name="webhooks")
app.command("eval")(eval_command)
app.command("eval-compare")(compare_command)
app.command("eval-keyword")(keyword_command)
app.add_typer(bench_app, name="bench")


if __name__ == "__main__":
    app()
