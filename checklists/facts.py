"""Facts people are told about ("Nobody waits unseen"): an item failed, nothing blocks sign-off, a result went stale."""


from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checklists.models import Deployment, Item, ItemState
from checklists.selectors import blocking_q, freshness_cutoff
from core.actors import SYSTEM
from core.events import event_append, event_fields, events_append
from core.models import Event, Source

State = ItemState.State


def item_failed_append(*, deployment: Deployment, item: Item, actor, source: str, note: str = "") -> None:
    """An item became failed: a fact of its own in the history, beside the change that made it."""
    event_append(
        kind=Event.Kind.ITEM_FAILED, source=source, actor=actor, deployment=deployment, item=item,
        after=State.FAILED, note=note,
    )


def ready_check(*, deployment: Deployment, actor, source: str) -> bool:
    """After a change that cleared something that blocked: if nothing blocks now, append `ready_for_signoff`.

    Called only when the change took a required item out of blocking, so the event marks the moment
    the last blocker cleared, once per such moment. One query (does anything still block?).
    """
    if deployment.status != Deployment.Status.OPEN:
        return False
    if ItemState.objects.filter(deployment=deployment).filter(blocking_q(timezone.now())).exists():
        return False
    ready_append(deployment=deployment, actor=actor, source=source)
    return True


def ready_recheck(*, deployment_id: int, after: int, actor, source: str) -> bool:
    """After a change that cleared a blocker has committed while others still blocked as it saw them.

    Changes to different items run side by side (see `_lock_open_deployment`), so two that clear the
    last two blockers at the same moment each see the other's item still blocking, and neither appends
    `ready_for_signoff`. Asked again once committed, the last of them to commit sees nothing blocking.
    Then the deployment is locked (every change in flight has finished) and asked once more, and the
    event is appended unless one already was after this change's event `after` (by the other change,
    or by its own re-check): one event for the moment, however the changes interleaved.

    Costs one query when something still blocks, which is nearly always.
    """
    if ItemState.objects.filter(deployment_id=deployment_id).filter(blocking_q(timezone.now())).exists():
        return False
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update(of=("self",)).get(pk=deployment_id)
        if (
            deployment.status != Deployment.Status.OPEN
            or ItemState.objects.filter(deployment=deployment).filter(blocking_q(timezone.now())).exists()
            or Event.objects.filter(deployment_ref=deployment.pk, kind=Event.Kind.READY_FOR_SIGNOFF, pk__gt=after).exists()
        ):
            return False
        ready_append(deployment=deployment, actor=actor, source=source)
    return True


def ready_append(*, deployment: Deployment, actor, source: str) -> None:
    """The last blocker just cleared: the deployment waits for its sign-offs."""
    event_append(
        kind=Event.Kind.READY_FOR_SIGNOFF, source=source, actor=actor, deployment=deployment,
        note="Nothing blocks sign-off any more.",
    )


def stale_results_note(*, now=None) -> int:
    """Beat: append `stale` once for each passing result of an open deployment that has gone stale.

    A result is noted once per passing run: an item whose `stale` event is newer than its last pass is
    not noted again. Returns how many events were appended.
    """
    now = now or timezone.now()
    candidates = list(
        ItemState.objects.filter(deployment__status=Deployment.Status.OPEN, item__probe__isnull=False,
                                 carried_from__isnull=True, state=State.PASSED, last_passed_at__lt=freshness_cutoff(now))
        .select_related("item", "deployment")
        .order_by("deployment_id", "item__position")
    )
    if not candidates:
        return 0
    noted = set(
        Event.objects.filter(
            deployment_ref__in={state.deployment_id for state in candidates}, kind=Event.Kind.STALE,
            at__gte=min(state.last_passed_at for state in candidates),
        ).values_list("deployment_ref", "item_key", "at")
    )
    latest = {}
    for deployment_ref, key, at in noted:
        latest[(deployment_ref, key)] = max(at, latest.get((deployment_ref, key), at))
    events = [
        Event(**event_fields(
            kind=Event.Kind.STALE, source=Source.PROBE, actor=SYSTEM, deployment=state.deployment, item=state.item,
            before=State.PASSED, after=State.PASSED,
            note=f"Its last passing result ({state.last_passed_at:%Y-%m-%d %H:%M} UTC) is older than "
                 f"{settings.CTRLREADY_RESULT_TTL_MINUTES} minutes: it blocks until the probe passes again.",
        ))
        for state in candidates
        if latest.get((state.deployment_id, state.item.key)) is None
        or latest[(state.deployment_id, state.item.key)] < state.last_passed_at
    ]
    with transaction.atomic():
        events_append(events)
    return len(events)
