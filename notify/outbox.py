"""The outbox: deliveries written in the transaction of the event they report, queued once it commits.

`outbox_write` is wired to `core.events` by `CTRLREADY_EVENT_LISTENERS`. For events nobody is
notified about it returns before any query; for the others it reads the subscriptions once per batch
(and, only when some subscription filters by service or team, where the events' environments belong;
only for `assigned`/`mentioned`, the person concerned), then inserts the deliveries in one statement.
A rolled-back change takes its deliveries with it; a broker that is down when it commits leaves them
pending, and the sweep queues them later.
"""

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from checklists.models import Environment
from core.models import Event
from core.queue import task_offer, task_send
from notify.kinds import NOTIFIED, PERSONAL
from notify.models import Delivery, Subscription

log = logging.getLogger(__name__)

#: The task that sends one delivery (notify/tasks.py), sent by name.
DELIVER = "notify.deliver"


def outbox_write(events: list[Event]) -> list[Delivery]:
    notable = [(event, NOTIFIED[event.kind]) for event in events if event.kind in NOTIFIED]
    if not notable:
        return []
    # Few rows (a team's few hooks), read whole: kinds are matched here, which every database can do.
    subscriptions = list(Subscription.objects.values("pk", "events", "team_id", "service_id", "environment_id"))
    scopes = _scopes(notable, subscriptions)
    now = timezone.now()
    deliveries = []
    for event, kind in notable:
        service_id, team_id = scopes.get(event.environment_ref, (None, None))
        for subscription in subscriptions:
            if subscription["events"] and kind not in subscription["events"]:
                continue
            if subscription["environment_id"] and subscription["environment_id"] != event.environment_ref:
                continue
            if subscription["service_id"] and subscription["service_id"] != service_id:
                continue
            if subscription["team_id"] and subscription["team_id"] != team_id:
                continue
            deliveries.append(Delivery(subscription_id=subscription["pk"], event=event, kind=kind, next_at=now))
    for event, kind, user_id in _personal(notable):
        deliveries.append(Delivery(recipient_id=user_id, event=event, kind=kind, next_at=now))
    if not deliveries:
        return []
    Delivery.objects.bulk_create(deliveries)
    ids = [str(delivery.pk) for delivery in deliveries]
    transaction.on_commit(lambda: deliveries_queue(ids, offer=True), robust=True)
    return deliveries


def _scopes(notable, subscriptions) -> dict[int, tuple[int | None, int | None]]:
    """environment id → (service id, team id), read only when a subscription filters by service or team."""
    if not any(s["service_id"] or s["team_id"] for s in subscriptions):
        return {}
    refs = {event.environment_ref for event, _ in notable if event.environment_ref}
    return {
        pk: (service_id, team_id)
        for pk, service_id, team_id in Environment.objects.filter(pk__in=refs).values_list("pk", "service_id", "service__team_id")
    }


def _personal(notable) -> list[tuple[Event, str, int]]:
    """(event, kind, user id) for each `assigned`/`mentioned` whose person has an address and wants it.

    Nobody is told of what they did themselves (taking an item, mentioning themselves).
    """
    wanted = [
        (event, kind, event.data.get("user"))
        for event, kind in notable
        if kind in PERSONAL and isinstance(event.data, dict) and event.data.get("user")
        and event.data.get("user") != event.actor_name
    ]
    if not wanted:
        return []
    users = dict(
        get_user_model().objects.filter(username__in={name for _, _, name in wanted}, is_active=True)
        .exclude(email="").exclude(notify_setting__email=False)
        .values_list("username", "pk")
    )
    return [(event, kind, users[name]) for event, kind, name in wanted if name in users]


def deliveries_queue(ids: list[str], *, offer: bool = False, **options) -> int:
    """Hand deliveries to the queue; if it cannot be reached they stay pending for the sweep. Returns how many went.

    `offer`: right after the change that wrote them, do not even try while the queue was found unreachable
    moments ago (`task_offer`), so that a change made during an outage does not wait for it.
    """
    sent = 0
    for delivery_id in ids:
        try:
            if offer and not task_offer(DELIVER, args=(delivery_id,), **options):
                log.warning("notifications left for the sweep: the queue was unreachable moments ago",
                            extra={"deliveries": len(ids) - sent})
                break
            if not offer:
                task_send(DELIVER, args=(delivery_id,), **options)
        except Exception as error:  # the broker is down: the sweep queues them once it is back
            log.warning("notifications left for the sweep: the queue cannot be reached (%s)", type(error).__name__,
                        extra={"deliveries": len(ids) - sent})
            break
        sent += 1
    return sent
