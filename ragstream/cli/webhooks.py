"""`ragstream webhooks …`: the credential's tenant's webhook subscriptions, through the query API
(an `admin` credential; an operator names the tenant with --tenant)."""

from __future__ import annotations

from typing import cast

import typer

from ragstream.cli.output import Col, console, emit, errors, json_option, print_table
from ragstream.cli.session import TENANT_HELP, URL_HELP, open_session
from ragstream.client import Client, Subscription, WebhookSecret
from ragstream.queries.notifications.notices import ALL, SUBSCRIBABLE
from ragstream.queries.notifications.schemas import DeliveryState, EventKind

STATES = ("waiting", "pending", "delivered", "dead", "expired")

app = typer.Typer(
    help="Webhooks: signed HTTP POSTs when documents become searchable, are rejected or dead-lettered,"
    " deleted, when replays or rebuilds end and when a connector fails. See docs/notifications.md.",
    no_args_is_help=True,
)
EVENTS_HELP = f"An event kind to deliver (repeat; default every one): {', '.join(SUBSCRIBABLE)}."


def _client(ctx: typer.Context, url: str | None, tenant: str | None) -> Client:
    return open_session(ctx, url=url, tenant=tenant).client


def _events(values: list[str]) -> list[EventKind]:
    unknown = set(values) - {ALL, *SUBSCRIBABLE}
    if unknown:
        raise typer.BadParameter(f"unknown event kind(s): {', '.join(sorted(unknown))}")
    return cast(list[EventKind], values)


def _state(value: str | None) -> DeliveryState | None:
    if value is not None and value not in STATES:
        raise typer.BadParameter(f"state must be one of {', '.join(STATES)}")
    return cast(DeliveryState | None, value)


def _show(hooks: list[Subscription], json_output: bool) -> None:
    if json_output:
        emit(hooks)
        return
    cols = [Col("id", 9), Col("url", 8, wrap=True, min_width=20), Col("events", 6, wrap=True),
            Col("active", 7), Col("rotation ends", 3), Col("description", 2, wrap=True), Col("created", 1)]  # fmt: skip
    rows = [
        [h.id, h.url, ", ".join(h.events), "yes" if h.active else "[yellow]paused[/yellow]",
         str(h.previous_secret_expires_at or "-")[:19], h.description, str(h.created_at)[:19]]
        for h in hooks
    ]  # fmt: skip
    print_table(cols, rows)


def _secret(result: WebhookSecret, json_output: bool, what: str) -> None:
    if json_output:
        emit(result)
    else:
        # The secret alone on stdout, like a created API key: `SECRET=$(ragstream webhooks create ...)`.
        typer.echo(result.secret)
    errors.print(
        f"{what} {result.webhook.id}: store the secret now, it cannot be shown again",
        highlight=False,
        soft_wrap=True,
    )


@app.command("create")
def create(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="URL", help="http(s) URL that receives the signed POSTs."),
    event: list[str] = typer.Option([], "--event", "-e", help=EVENTS_HELP),
    description: str = typer.Option("", help="What it is for."),
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option("Print the subscription and its secret as JSON."),
) -> None:
    """Subscribe a URL; prints its signing secret (whsec_…) once."""
    hook = _client(ctx, url, tenant).create_webhook(
        target, events=_events(event or [ALL]), description=description
    )
    _secret(hook, json_output, "created webhook")


@app.command("list")
def list_(
    ctx: typer.Context,
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """The tenant's subscriptions (never their secrets)."""
    _show(_client(ctx, url, tenant).webhooks(), json_output)


@app.command("update")
def update(
    ctx: typer.Context,
    webhook_id: str,
    target: str | None = typer.Option(None, "--target", help="A new URL."),
    event: list[str] = typer.Option([], "--event", "-e", help="Replace the event kinds (repeat)."),
    description: str | None = typer.Option(None),
    active: bool | None = typer.Option(None, "--active/--paused", help="Pause or resume deliveries."),
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Change a subscription; a paused one keeps its deliveries waiting, nothing is lost."""
    hook = _client(ctx, url, tenant).update_webhook(
        webhook_id, url=target, events=_events(event) or None, description=description, active=active
    )
    _show([hook], json_output)


@app.command("delete")
def delete(
    ctx: typer.Context,
    webhook_id: str,
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
) -> None:
    """Delete a subscription with its secrets and delivery log."""
    _client(ctx, url, tenant).delete_webhook(webhook_id)
    console.print(f"deleted webhook {webhook_id}")


@app.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    webhook_id: str,
    overlap: float | None = typer.Option(
        None, min=0, help="Seconds the previous secret keeps signing too (default: the node's, 24 h)."
    ),
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option("Print the subscription and its new secret as JSON."),
) -> None:
    """A new signing secret, printed once; deliveries carry both signatures during the overlap."""
    _secret(
        _client(ctx, url, tenant).rotate_webhook_secret(webhook_id, overlap_s=overlap), json_output, "rotated"
    )


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    webhook_id: str,
    state: str | None = typer.Option(None, help="waiting, pending, delivered, dead or expired."),
    limit: int = typer.Option(20, min=1, max=500),
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option("Print the deliveries with every attempt as JSON."),
) -> None:
    """The delivery log, newest first."""
    found = _client(ctx, url, tenant).webhook_deliveries(webhook_id, state=_state(state), limit=limit)
    if json_output:
        emit(found)
        return
    cols = [Col("id", 9, justify="right"), Col("event", 8), Col("document", 6, wrap=True),
            Col("version", 3, justify="right"), Col("state", 9), Col("attempts", 7, justify="right"),
            Col("last answer", 5, wrap=True), Col("created", 2)]  # fmt: skip
    colour = {"delivered": "green", "dead": "red", "expired": "yellow"}
    rows = [
        [str(d.id), d.kind, d.document_id or "-", str(d.version or "-"),
         f"[{colour.get(d.state, 'default')}]{d.state}[/]", str(d.attempts),
         d.last_error or str(d.last_status or "-"), str(d.created_at)[:19]]
        for d in found
    ]  # fmt: skip
    print_table(cols, rows)


@app.command("replay")
def replay(
    ctx: typer.Context,
    webhook_id: str,
    delivery: list[int] = typer.Option([], "--delivery", help="Only these dead deliveries (repeat)."),
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
    json_output: bool = json_option(),
) -> None:
    """Deliver dead deliveries again, from a first attempt."""
    queued = _client(ctx, url, tenant).replay_webhook_deliveries(webhook_id, delivery or None)
    if json_output:
        emit(queued)
    else:
        console.print(f"{queued.queued} deliveries due again")


@app.command("ping")
def ping(
    ctx: typer.Context,
    webhook_id: str,
    tenant: str | None = typer.Option(None, help=TENANT_HELP),
    url: str | None = typer.Option(None, help=URL_HELP),
) -> None:
    """Send a webhook.ping event, to try the receiver (see `deliveries` for what it answered)."""
    _client(ctx, url, tenant).ping_webhook(webhook_id)
    console.print(f"ping queued for {webhook_id}")
