"""What the schedule tells people about, once each (beat runs `reminders_send` every minute).

- `waiver_expired`: one per waiver of an open deployment that has passed its expiry. Whether the item
  blocks is decided when it is read (selectors.waiver_lapsed), never by this: the event only tells.
- `due_soon`: one per open deployment due within CTRLREADY_DUE_SOON_HOURS while anything blocks.

Each is claimed by a conditional UPDATE in the transaction that appends its event, so two beats (or a
beat and a retry) never append it twice. A signed-off deployment stays as it was signed: nothing here.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checklists.models import Deployment, ItemState
from checklists.selectors import deployment_summaries
from core.actors import SYSTEM
from core.events import event_append
from core.models import Event, Source

BATCH = 500


def reminders_send(*, now: datetime | None = None) -> int:
    """Append the `waiver_expired` and `due_soon` events that are due; returns how many."""
    now = now or timezone.now()
    return waivers_expired_note(now=now) + deployments_due_soon_note(now=now)


def waivers_expired_note(*, now: datetime) -> int:
    with transaction.atomic():
        states = list(
            ItemState.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(
                deployment__status=Deployment.Status.OPEN, state=ItemState.State.WAIVED,
                waiver_expires_at__lte=now, waiver_expiry_noted=False,
            )
            .select_related("item", "deployment")
            .order_by("id")[:BATCH]
        )
        if not states:
            return 0
        ItemState.objects.filter(pk__in=[state.pk for state in states]).update(waiver_expiry_noted=True)
        for state in states:
            event_append(
                kind=Event.Kind.WAIVER_EXPIRED, source=Source.PROBE, actor=SYSTEM, deployment=state.deployment,
                item=state.item, before=state.state, after=state.state,
                note=f"The waiver by {state.waived_by_name or 'a lead'} expired at {state.waiver_expires_at:%Y-%m-%d %H:%M} UTC"
                + ("; the item blocks sign-off again." if not state.item.optional else "."),
                data={"expires_at": state.waiver_expires_at.isoformat(), "waived_by": state.waived_by_name},
            )
    return len(states)


def deployments_due_soon_note(*, now: datetime) -> int:
    horizon = now + timedelta(hours=settings.CTRLREADY_DUE_SOON_HOURS)
    candidates = list(
        Deployment.objects.filter(
            status=Deployment.Status.OPEN, due_at__isnull=False, due_at__lte=horizon, due_soon_at__isnull=True
        ).values_list("pk", flat=True)[:BATCH]
    )
    if not candidates:
        return 0
    summaries = deployment_summaries(candidates, now=now)
    blocked = [pk for pk in candidates if summaries[pk]["blocking"]]
    appended = 0
    for pk in blocked:
        with transaction.atomic():
            if not Deployment.objects.filter(pk=pk, due_soon_at__isnull=True, status=Deployment.Status.OPEN).update(
                due_soon_at=now
            ):
                continue
            deployment = Deployment.objects.get(pk=pk)
            blocking = summaries[pk]["blocking"]
            hours = (deployment.due_at - now).total_seconds() / 3600
            when = f"in {hours:.0f} hour(s)" if hours >= 1 else "within the hour" if hours >= 0 else "and overdue"
            event_append(
                kind=Event.Kind.DUE_SOON, source=Source.PROBE, actor=SYSTEM, deployment=deployment,
                note=f"Due {when} ({deployment.due_at:%Y-%m-%d %H:%M} UTC); {blocking} item(s) still block sign-off.",
                data={"due_at": deployment.due_at.isoformat(), "blocking": blocking},
            )
            appended += 1
    return appended
