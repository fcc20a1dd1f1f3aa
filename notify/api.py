"""JSON API for subscriptions and their deliveries. Handlers translate: validate, call a service, serialise."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Router, Schema, Status

from notify import selectors, services
from notify.kinds import KINDS

router = Router()


class ErrorOut(Schema):
    error: str


def _errors(*codes: int) -> dict:
    return {code: ErrorOut for code in codes}


class SubscriptionIn(Schema):
    channel: Literal["webhook", "slack", "email"]
    target: str = Field(..., max_length=1000, description="A URL (webhook, Slack incoming webhook) or an email address.")
    events: list[str] | Literal["all"] = Field(
        "all", description=f"Event kinds ({', '.join(KINDS)}), or `all`."
    )
    team: str = Field("", max_length=100, description="A team's slug: only its services' events.")
    service: str = Field("", max_length=100, description="A service's name: only its events.")
    environment: int | None = Field(None, description="An environment's id: only its events.")


class SubscriptionOut(Schema):
    id: int
    channel: str
    target: str
    events: list[str]
    team: str | None
    service: str | None
    environment: int | None
    created_by: str | None
    created_at: datetime


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str | None = Field(None, description="The webhook's signing secret `whsec_…`, shown this once.")


class SubscriptionListOut(Schema):
    subscriptions: list[SubscriptionOut]


class DeliveryOut(Schema):
    id: str
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_code: int | None
    last_error: str
    at: datetime


class DeliveryListOut(Schema):
    deliveries: list[DeliveryOut]


@router.get("subscriptions", response={200: SubscriptionListOut, **_errors(401, 403)})
def subscription_list(request):
    """The subscriptions you may manage: your teams' as their lead, every one as an admin."""
    return {"subscriptions": [selectors.subscription_dict(s) for s in services.subscriptions_visible(request.auth)]}


@router.post("subscriptions", response={201: SubscriptionCreatedOut, **_errors(400, 401, 403, 404)})
def subscription_create(request, payload: SubscriptionIn):
    """Subscribe a webhook, a Slack incoming webhook or an email address to some kinds of events."""
    created = services.subscription_create(
        channel=payload.channel, target=payload.target, events=payload.events, team=payload.team,
        service=payload.service, environment=payload.environment, actor=request.auth,
    )
    return Status(201, {**selectors.subscription_dict(created.subscription), "secret": created.secret or None})


@router.delete("subscriptions/{int:subscription_id}", response={204: None, **_errors(401, 403, 404)})
def subscription_delete(request, subscription_id: int):
    services.subscription_delete(subscription_id=subscription_id, actor=request.auth)
    return Status(204, None)


@router.get("subscriptions/{int:subscription_id}/deliveries", response={200: DeliveryListOut, **_errors(401, 403, 404)})
def subscription_deliveries(request, subscription_id: int):
    """The latest deliveries of a subscription, newest first, with their outcome."""
    subscription = services.subscription_get(subscription_id=subscription_id, actor=request.auth)
    return {"deliveries": [selectors.delivery_dict(d) for d in selectors.deliveries_of(subscription)]}


@router.post("deliveries/{uuid:delivery_id}/redeliver", response={202: DeliveryOut, **_errors(401, 403, 404)})
def delivery_redeliver(request, delivery_id: UUID):
    """Send a delivery again (same id, a fresh round of attempts)."""
    delivery = services.delivery_redeliver(delivery_id=delivery_id, actor=request.auth)
    return Status(202, selectors.delivery_dict(delivery))
