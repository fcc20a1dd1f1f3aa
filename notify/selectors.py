"""Reads for the notifications page and API."""

from notify.models import Delivery, Subscription

DELIVERIES_SHOWN = 100


def deliveries_of(subscription: Subscription, *, limit: int = DELIVERIES_SHOWN) -> list[Delivery]:
    return list(subscription.deliveries.order_by("-created_at")[:limit])


def deliveries_by_subscription(subscriptions: list[Subscription], *, per: int = 10) -> dict[int, list[Delivery]]:
    """The latest `per` deliveries of each subscription, in one query per subscription shown."""
    return {subscription.pk: deliveries_of(subscription, limit=per) for subscription in subscriptions}


def personal_deliveries(user, *, limit: int = 20) -> list[Delivery]:
    return list(Delivery.objects.filter(recipient=user).order_by("-created_at")[:limit])


def delivery_dict(delivery: Delivery) -> dict:
    return {
        "id": str(delivery.pk),
        "event": delivery.kind,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_code": delivery.last_code,
        "last_error": delivery.last_error,
        "at": delivery.created_at,
    }


def subscription_dict(subscription: Subscription) -> dict:
    return {
        "id": subscription.pk,
        "channel": subscription.channel,
        "target": subscription.target,  # a Slack URL is stored in clear only up to its host
        "events": subscription.events or ["all"],
        "team": subscription.team.slug if subscription.team_id else None,
        "service": subscription.service.name if subscription.service_id else None,
        "environment": subscription.environment_id,
        "created_by": subscription.created_by.get_username() if subscription.created_by_id else None,
        "created_at": subscription.created_at,
    }

