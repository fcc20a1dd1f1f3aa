"""What finished probe runs do to their items: the latest run of an automated item sets its state."""

from dataclasses import dataclass

from checklists.facts import ready_check
from checklists.items import DONE, State, refresh_parent, state_for_result
from checklists.models import Deployment, Item, ItemState
from checklists.selectors import freshness_cutoff
from core.actors import SYSTEM, actor_name
from core.db import rows_save
from core.events import event_fields, events_append
from core.live import live_touch
from core.models import Event, Source


@dataclass(frozen=True)
class RunResult:
    """One finished probe run, as the domain takes it in (the probes app makes these)."""

    run_id: int
    deployment_id: int
    item_id: int
    result: dict  # what `ItemState.result` keeps: status, message, conditions, when, how long, …
    finished_at: object
    passed: bool


def item_results_apply(results: list[RunResult]) -> set[int]:
    """Record finished runs on their items: the latest run of an automated item sets its state.

    Runs in the caller's transaction. A waived or n/a item keeps its state (the result is still kept);
    a run older than the item's latest is ignored; nothing in a signed-off deployment changes.
    Every changed state appends one `probe_result` event, as the system.
    Returns the ids of the runs that changed their item's state (the runs worth keeping for good).
    """
    if not results:
        return set()
    # Lock the deployments first, as ticks and sign-offs do: a sign-off never reads a digest while a
    # result is half-written, and a deployment signed off meanwhile is seen as locked here.
    locked = {
        pk
        for pk, status in Deployment.objects.select_for_update()
        .filter(pk__in={r.deployment_id for r in results})
        .order_by("pk")
        .values_list("pk", "status")
        if status != Deployment.Status.OPEN
    }
    results = [r for r in results if r.deployment_id not in locked]
    states = {
        (state.deployment_id, state.item_id): state
        for state in ItemState.objects.select_for_update(of=("self",))
        .filter(deployment_id__in={r.deployment_id for r in results}, item_id__in={r.item_id for r in results})
        .select_related("item", "deployment")
    }
    changed_states, events, parents, changed_runs = {}, [], [], set()
    cleared: dict[int, Deployment] = {}  # deployments where a result cleared something that blocked
    cutoff = freshness_cutoff()
    for outcome in sorted(results, key=lambda r: r.run_id):
        item_state = states.get((outcome.deployment_id, outcome.item_id))
        if item_state is None or (item_state.latest_run_id or 0) > outcome.run_id:
            continue
        if outcome.passed and item_state.state == State.PASSED and not item_state.item.optional and (
            item_state.carried_from_id is None and (item_state.last_passed_at is None or item_state.last_passed_at < cutoff)
        ):
            cleared[item_state.deployment_id] = item_state.deployment  # a stale result made fresh again
        item_state.latest_run_id = outcome.run_id
        item_state.result = outcome.result
        item_state.run_state = ItemState.RunState.IDLE
        if item_state.state not in (State.WAIVED, State.NA):
            item_state.carried_from = None  # a run here replaces evidence carried from elsewhere
        if outcome.passed:
            item_state.last_passed_at = outcome.finished_at
        changed_states[item_state.pk] = item_state  # one row per item, however many of its runs end here
        after = state_for_result(outcome.result)
        if after is None or after == item_state.state or item_state.state in (State.WAIVED, State.NA):
            continue
        events.append(Event(**event_fields(
            kind=Event.Kind.PROBE_RESULT, source=Source.PROBE, actor=SYSTEM, deployment=item_state.deployment,
            item=item_state.item, before=item_state.state, after=after,
            note=str(outcome.result.get("message", ""))[:500], data={"run": outcome.run_id},
        )))
        changed_runs.add(outcome.run_id)
        if after == State.FAILED:
            events.append(Event(**event_fields(
                kind=Event.Kind.ITEM_FAILED, source=Source.PROBE, actor=SYSTEM, deployment=item_state.deployment,
                item=item_state.item, before=item_state.state, after=after,
                note=str(outcome.result.get("message", ""))[:500], data={"run": outcome.run_id},
            )))
        if after in DONE and item_state.state not in DONE and not item_state.item.optional:
            cleared[item_state.deployment_id] = item_state.deployment
        item_state.state = after
        item_state.updated_by = None
        item_state.updated_by_name = actor_name(SYSTEM)
        item_state.updated_at = outcome.finished_at
        if item_state.item.parent_id:
            parents.append(item_state)
    rows_save(
        list(changed_states.values()),
        ["latest_run_id", "result", "run_state", "last_passed_at", "state", "updated_by", "updated_by_name", "updated_at",
         "carried_from"],
    )
    events_append(events)
    for item_state in changed_states.values():  # a result that left the state as it was still shows a new run
        live_touch(item_state.deployment_id, [item_state.item.key])
    for item_state in parents:
        refresh_parent(item_state.deployment, item_state.item, actor=SYSTEM, source=Source.PROBE)
    for deployment in cleared.values():
        ready_check(deployment=deployment, actor=SYSTEM, source=Source.PROBE)
    return changed_runs


def item_runs_mark(*, deployment_id: int, item_ids: list[int], run_state: str) -> None:
    """Show that runs of these items are queued or running (the deployment page reads it)."""
    ItemState.objects.filter(deployment_id=deployment_id, item_id__in=item_ids).update(run_state=run_state)
    live_touch(deployment_id, Item.objects.filter(pk__in=item_ids).values_list("key", flat=True))
