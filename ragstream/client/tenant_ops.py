"""The SDK's calls for a tenant's administration: webhook subscriptions and prompt templates
(`admin`; an operator's client names the tenant with `tenant=`). Operations like those of
ragstream.client.operations: generators of calls, bound to both clients in ragstream.client.base."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from ragstream.client.operations import Call, Operation
from ragstream.queries.api.schemas import DefaultTemplateIn, TemplateIn, TemplateOut, TemplatesOut
from ragstream.queries.notifications.outbox import Delivery
from ragstream.queries.notifications.schemas import (
    DeliveryState,
    EventKind,
    Queued,
    ReplayDeliveriesIn,
    RotateIn,
    WebhookIn,
    WebhookSecret,
    WebhookUpdate,
)
from ragstream.queries.notifications.subscriptions import Subscription

_SUBSCRIPTION = TypeAdapter(Subscription)
_SUBSCRIPTIONS = TypeAdapter(list[Subscription])
_DELIVERIES = TypeAdapter(list[Delivery])
_TEMPLATES = TypeAdapter(list[TemplateOut])


def _hook(webhook_id: str, rest: str = "") -> str:
    return f"/v1/webhooks/{quote(webhook_id, safe='')}{rest}"


def _template(name: str, rest: str = "") -> str:
    return f"/v1/templates/{quote(name, safe='')}{rest}"


def _body(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


# --- webhooks ---------------------------------------------------------------------------------------


def create_webhook(
    url: str, *, events: Sequence[EventKind] = ("*",), description: str = ""
) -> Operation[WebhookSecret]:
    """Subscribes `url` to event kinds; the result holds the signing secret, shown only this once."""
    body = WebhookIn(url=url, events=list(events), description=description)
    response = yield Call("queries", "POST", "/v1/webhooks", json=_body(body))
    return WebhookSecret.model_validate_json(response.content)


def webhooks() -> Operation[list[Subscription]]:
    response = yield Call("queries", "GET", "/v1/webhooks")
    return _SUBSCRIPTIONS.validate_json(response.content)


def webhook(webhook_id: str) -> Operation[Subscription]:
    response = yield Call("queries", "GET", _hook(webhook_id))
    return _SUBSCRIPTION.validate_json(response.content)


def update_webhook(
    webhook_id: str,
    *,
    url: str | None = None,
    events: Sequence[EventKind] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> Operation[Subscription]:
    """Changes what is given; `active=False` pauses deliveries (they wait, nothing is lost)."""
    body = WebhookUpdate(
        url=url, events=None if events is None else list(events), description=description, active=active
    )
    response = yield Call("queries", "PATCH", _hook(webhook_id), json=_body(body))
    return _SUBSCRIPTION.validate_json(response.content)


def delete_webhook(webhook_id: str) -> Operation[None]:
    yield Call("queries", "DELETE", _hook(webhook_id))


def rotate_webhook_secret(webhook_id: str, *, overlap_s: float | None = None) -> Operation[WebhookSecret]:
    """A new secret (shown this once); the previous one keeps signing for `overlap_s`."""
    body = RotateIn(overlap_s=overlap_s)
    response = yield Call("queries", "POST", _hook(webhook_id, "/rotate-secret"), json=_body(body))
    return WebhookSecret.model_validate_json(response.content)


def webhook_deliveries(
    webhook_id: str, *, state: DeliveryState | None = None, limit: int = 50, before: int | None = None
) -> Operation[list[Delivery]]:
    """The delivery log, newest first, each delivery with every attempt."""
    params = {k: v for k, v in {"state": state, "limit": limit, "before": before}.items() if v is not None}
    response = yield Call("queries", "GET", _hook(webhook_id, "/deliveries"), params=params)
    return _DELIVERIES.validate_json(response.content)


def replay_webhook_deliveries(
    webhook_id: str, delivery_ids: Sequence[int] | None = None
) -> Operation[Queued]:
    """Dead deliveries (all, or those given) are due again from a first attempt."""
    body = ReplayDeliveriesIn(delivery_ids=None if delivery_ids is None else list(delivery_ids))
    response = yield Call("queries", "POST", _hook(webhook_id, "/replay"), json=_body(body))
    return Queued.model_validate_json(response.content)


def ping_webhook(webhook_id: str) -> Operation[Queued]:
    """Sends a `webhook.ping` event, to try the receiver."""
    response = yield Call("queries", "POST", _hook(webhook_id, "/ping"))
    return Queued.model_validate_json(response.content)


# --- prompt templates -------------------------------------------------------------------------------


def create_template(template: TemplateIn) -> Operation[TemplateOut]:
    """Saves a prompt template as the next version of its name (422 for an unknown placeholder)."""
    response = yield Call("queries", "POST", "/v1/templates", json=_body(template))
    return TemplateOut.model_validate_json(response.content)


def templates() -> Operation[TemplatesOut]:
    response = yield Call("queries", "GET", "/v1/templates")
    return TemplatesOut.model_validate_json(response.content)


def template(name: str, *, version: int | None = None) -> Operation[TemplateOut]:
    params = {} if version is None else {"version": version}
    response = yield Call("queries", "GET", _template(name), params=params)
    return TemplateOut.model_validate_json(response.content)


def template_versions(name: str) -> Operation[list[TemplateOut]]:
    response = yield Call("queries", "GET", _template(name, "/versions"))
    return _TEMPLATES.validate_json(response.content)


def set_default_template(name: str, *, version: int | None = None) -> Operation[TemplateOut]:
    """Answers that name no template get this one (`version`: pinned; default: its latest)."""
    body = DefaultTemplateIn(version=version)
    response = yield Call("queries", "PUT", _template(name, "/default"), json=_body(body))
    return TemplateOut.model_validate_json(response.content)


def clear_default_template(name: str) -> Operation[None]:
    yield Call("queries", "DELETE", _template(name, "/default"))


def delete_template(name: str) -> Operation[None]:
    yield Call("queries", "DELETE", _template(name))
