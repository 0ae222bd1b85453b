"""Request and response bodies of `/v1/webhooks`, split by role. A subscription and a delivery are
served as the records the notifications store defines (subscriptions.py, outbox.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragstream.queries.notifications.subscriptions import Subscription

# The kinds a subscription may follow ("*": every one); notices.SUBSCRIBABLE, spelled out for the spec.
EventKind = Literal[
    "*", "document.searchable", "document.deleted", "document.rejected", "document.dead_lettered",
    "replay.finished", "replay.failed", "rebuild.finished", "rebuild.failed", "connector.failed",
]  # fmt: skip
DeliveryState = Literal["waiting", "pending", "delivered", "dead", "expired"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookIn(_Body):
    url: str = Field(max_length=2048, description="http(s) URL that receives the signed POSTs")
    events: list[EventKind] = Field(default=["*"], min_length=1, max_length=16)
    description: str = Field(default="", max_length=512)


class WebhookUpdate(_Body):
    url: str | None = Field(default=None, max_length=2048)
    events: list[EventKind] | None = Field(default=None, min_length=1, max_length=16)
    description: str | None = Field(default=None, max_length=512)
    active: bool | None = Field(default=None, description="false pauses deliveries (they wait, not lost)")


class RotateIn(_Body):
    overlap_s: float | None = Field(
        default=None, ge=0, le=7 * 24 * 3600,
        description="How long the previous secret keeps signing too; default: notifications.rotation_overlap_s",
    )  # fmt: skip


class WebhookSecret(BaseModel):
    """The subscription and its new signing secret: shown this once, store it now."""

    webhook: Subscription
    secret: str


class ReplayDeliveriesIn(_Body):
    delivery_ids: list[int] | None = Field(
        default=None, max_length=1000, description="Default: every dead delivery of the subscription"
    )


class Queued(BaseModel):
    """How many deliveries are due (again)."""

    queued: int
