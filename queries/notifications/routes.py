"""`/v1/webhooks`: a tenant's subscriptions, their secrets and delivery log (`admin`, for the
caller's tenant; an operator acts for the tenant it names in X-Tenant)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.security import Admin, throttle
from ragstream.http.service import COMMON_ERRORS, error_responses
from ragstream.queries.notifications import notices
from ragstream.queries.notifications.outbound import TargetRefused, check_url, resolve
from ragstream.queries.notifications.outbox import Delivery, Outbox
from ragstream.queries.notifications.schemas import (
    DeliveryState,
    Queued,
    ReplayDeliveriesIn,
    RotateIn,
    WebhookIn,
    WebhookSecret,
    WebhookUpdate,
)
from ragstream.queries.notifications.subscriptions import Subscription, SubscriptionStore
from ragstream.settings import NotificationSettings

router = APIRouter(
    prefix="/v1/webhooks", tags=["webhooks"], route_class=StrictJSONRoute,
    dependencies=[Depends(throttle)], responses=error_responses(*COMMON_ERRORS, 404, 409, 413),
)  # fmt: skip
WebhookId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$")]


@dataclass(frozen=True)
class Webhooks:
    """What the routes use, made once by the query API."""

    subscriptions: SubscriptionStore
    outbox: Outbox
    settings: NotificationSettings


async def get_webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]


async def _target(url: str, settings: NotificationSettings) -> str:
    """The URL, if the outbound policy allows it now (it is checked again at every delivery)."""
    try:
        parsed = check_url(url)
        async with asyncio.timeout(settings.delivery_timeout_s):
            await resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80),
                          allow_private=settings.allow_private_targets)  # fmt: skip
    except TimeoutError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"url: {parsed.host} did not resolve in time"
        ) from exc
    except TargetRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"url: {exc}") from exc
    return url


async def _owned(webhooks: Webhooks, tenant: str, webhook_id: str) -> Subscription:
    found = await webhooks.subscriptions.get(tenant, webhook_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook {webhook_id!r}")
    return found


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookSecret)
async def create_webhook(body: WebhookIn, webhooks: WebhooksDep, identity: Admin) -> WebhookSecret:
    """Subscribes a URL to event kinds; the answer holds the signing secret, shown only this once."""
    url = await _target(body.url, webhooks.settings)
    subscription, secret = await webhooks.subscriptions.create(
        identity.tenant, url, list(dict.fromkeys(body.events)), body.description, identity.subject
    )
    return WebhookSecret(webhook=subscription, secret=secret)


@router.get("", response_model=list[Subscription])
async def list_webhooks(webhooks: WebhooksDep, identity: Admin) -> list[Subscription]:
    return await webhooks.subscriptions.all(identity.tenant)


@router.get("/{webhook_id}", response_model=Subscription)
async def get_webhook(webhook_id: WebhookId, webhooks: WebhooksDep, identity: Admin) -> Subscription:
    return await _owned(webhooks, identity.tenant, webhook_id)


@router.patch("/{webhook_id}", response_model=Subscription)
async def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, webhooks: WebhooksDep, identity: Admin
) -> Subscription:
    url = None if body.url is None else await _target(body.url, webhooks.settings)
    events = None if body.events is None else list(dict.fromkeys(body.events))
    updated = await webhooks.subscriptions.update(
        identity.tenant, webhook_id, url=url, events=events, description=body.description, active=body.active
    )
    if updated is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook {webhook_id!r}")
    return updated


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: WebhookId, webhooks: WebhooksDep, identity: Admin) -> None:
    """The subscription, its secrets and its delivery log."""
    if not await webhooks.subscriptions.delete(identity.tenant, webhook_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook {webhook_id!r}")


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookSecret)
async def rotate_secret(
    webhook_id: WebhookId, body: RotateIn, webhooks: WebhooksDep, identity: Admin
) -> WebhookSecret:
    """A new signing secret (shown this once); the previous one keeps signing during the overlap,
    so every delivery then carries two signatures and receivers can switch at their pace."""
    overlap = webhooks.settings.rotation_overlap_s if body.overlap_s is None else body.overlap_s
    rotated = await webhooks.subscriptions.rotate(identity.tenant, webhook_id, overlap)
    if rotated is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook {webhook_id!r}")
    subscription, secret = rotated
    return WebhookSecret(webhook=subscription, secret=secret)


@router.get("/{webhook_id}/deliveries", response_model=list[Delivery])
async def deliveries(
    webhook_id: WebhookId,
    webhooks: WebhooksDep,
    identity: Admin,
    state: DeliveryState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Deliveries older than this id (paging)")
    ] = None,
) -> list[Delivery]:
    """The delivery log, newest first: each delivery's state and every attempt's answer."""
    await _owned(webhooks, identity.tenant, webhook_id)
    return await webhooks.outbox.deliveries(webhook_id, state=state, limit=limit, before=before)


@router.post("/{webhook_id}/replay", response_model=Queued)
async def replay_deliveries(
    webhook_id: WebhookId, body: ReplayDeliveriesIn, webhooks: WebhooksDep, identity: Admin
) -> Queued:
    """Dead deliveries are due again, from a first attempt (with their original id and body)."""
    await _owned(webhooks, identity.tenant, webhook_id)
    return Queued(queued=await webhooks.outbox.replay(webhook_id, body.delivery_ids))


@router.post("/{webhook_id}/ping", status_code=status.HTTP_202_ACCEPTED, response_model=Queued)
async def ping(webhook_id: WebhookId, webhooks: WebhooksDep, identity: Admin) -> Queued:
    """Sends a `webhook.ping` event to the subscription (whatever it follows), to try a receiver."""
    await _owned(webhooks, identity.tenant, webhook_id)
    await webhooks.outbox.ping(notices.ping(identity.tenant, webhook_id), webhook_id)
    return Queued(queued=1)
