"""Starting a deployment: its checklist version, release, due time and owners, and the evidence carried over into it."""

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from checklists.items import DONE, State, _lock_open_deployment, refresh_parent
from checklists.models import ChecklistVersion, Deployment, Item, ItemState
from core import roles
from core.actors import actor_user
from core.db import rows_save
from core.errors import Conflict, InvalidInput, NotFound
from core.events import event_append, event_fields, events_append
from core.models import Event
from core.queue import task_offer
from core.text import excerpt

logger = logging.getLogger(__name__)


def deployment_create(
    *,
    environment,
    checklist_slug: str = "",
    release: str = "",
    version_number: int | None = None,
    from_id: int | None = None,
    due_at: datetime | None = None,
    actor,
    source: str,
) -> Deployment:
    """Start a deployment; with `from_id`, carry evidence over from that signed-off deployment of the release.

    `due_at` is its planned go-live. Items whose checklist names an owner who exists (and may read the
    deployment) start assigned to them.

    With `from_id`, the checklist (and then its version) and the release default to the origin's.
    Whatever the origin, items with `valid:` take over the latest signed-off attestation of this
    environment that is still younger than that (see `evidence_carry`).
    """
    roles.require(actor, "run", team=environment.owner_team_id)
    origin = _carry_origin(from_id, actor) if from_id is not None else None
    if origin is not None:
        if not checklist_slug:
            checklist_slug = origin.version.checklist.slug
            version_number = version_number or origin.version.number
        release = release or origin.release
    if not checklist_slug:
        raise InvalidInput("Give the checklist to deploy against (its slug), or `from`: a deployment to follow.")
    release = (release or "").strip()
    if not release:
        raise InvalidInput("Give the release being deployed, e.g. `v1.4.2` or a git sha.")
    if len(release) > 200:
        raise InvalidInput("The release name is longer than 200 characters.")
    versions = ChecklistVersion.objects.filter(checklist__slug=checklist_slug)
    if version_number is None:
        version = versions.order_by("-number").first()
    else:
        version = versions.filter(number=version_number).first()
    if version is None:
        raise NotFound(f"There is no checklist `{excerpt(checklist_slug)}`" + (f" version {version_number}." if version_number else "."))
    if origin is not None:
        _check_origin(origin, environment=environment, version=version, release=release)
    due_at = _due_at(due_at)
    with transaction.atomic():
        deployment = Deployment.objects.create(
            environment=environment, version=version, release=release, created_by=actor_user(actor), due_at=due_at
        )
        owners = _default_owners(version, team=environment.owner_team_id)
        ItemState.objects.bulk_create(
            [
                ItemState(deployment=deployment, item_id=item_id, assignee=owners.get(owner))
                for item_id, owner in version.items.values_list("id", "owner")
            ]
        )
        note = f"{release} to {environment}, checklist {version.checklist.slug} v{version.number}"
        if origin is not None:
            note += f", following {origin.release} in {origin.environment.name} (deployment {origin.pk})"
        event_append(
            kind=Event.Kind.DEPLOYMENT_CREATED,
            source=source,
            actor=actor,
            deployment=deployment,
            note=note,
            data={"from": origin.pk} if origin is not None else None,
        )
        evidence_carry(deployment=deployment, origin=origin, actor=actor, source=source)
        # One by one, through `event_append`: whatever listens to appended events hears of each.
        for state in (
            deployment.states.filter(assignee__isnull=False).select_related("item", "assignee").order_by("item__position")
            if owners else ()
        ):
            event_append(
                kind=Event.Kind.ASSIGNED, source=source, actor=actor, deployment=deployment, item=state.item,
                after=state.assignee.get_username(), note="The checklist names them as its owner.",
                data={"user": state.assignee.get_username()},
            )
    if settings.CTRLREADY_RUN_ON_CREATE:
        transaction.on_commit(lambda: _first_runs_send(deployment.pk))
    return deployment


#: The probes app's task that queues a new deployment's probes (sent by name: checklists never imports probes).
FIRST_RUNS_TASK = "probes.run_new_deployment"


def _first_runs_send(deployment_id: int) -> None:
    """Ask the probes app to run a new deployment's probes now rather than at beat's next re-check.

    Sent once its transaction has committed, without retrying: with the queue unreachable the deployment
    is still created, and beat's re-check (`CTRLREADY_RECHECK_MINUTES`) runs its probes later.
    """
    try:
        sent = task_offer(FIRST_RUNS_TASK, args=(deployment_id,), retry=False)
    except Exception:
        sent = False
    if not sent:
        logger.warning("The probe queue could not be reached; deployment %s's probes run at the next re-check.", deployment_id)


def deployment_due_set(*, deployment_id: int, due_at: datetime | None, actor, source: str) -> Deployment:
    """Move an open deployment's planned go-live (None: no longer planned); whoever may start one may move it.

    The `due_soon` reminder is armed again for the new time. One event `due_moved` with the times before
    and after; nothing when the time is the same.
    """
    due_at = _due_at(due_at)
    with transaction.atomic():
        deployment = _lock_open_deployment(deployment_id, actor=actor, action="run")
        before = deployment.due_at
        if before == due_at:
            return deployment
        deployment.due_at, deployment.due_soon_at = due_at, None
        deployment.save(update_fields=["due_at", "due_soon_at"])
        event_append(
            kind=Event.Kind.DUE_MOVED, source=source, actor=actor, deployment=deployment,
            before=_stamp(before), after=_stamp(due_at),
            note=f"Due {_stamp(due_at)} UTC" + (f" (was {_stamp(before)} UTC)." if before else ".") if due_at
            else f"No longer due at {_stamp(before)} UTC.",
            data={"due_at": due_at.isoformat() if due_at else None, "was": before.isoformat() if before else None},
        )
    return deployment


def _stamp(moment: datetime | None) -> str:
    return f"{moment.astimezone(dt_timezone.utc):%Y-%m-%d %H:%M}" if moment else ""


def _due_at(due_at: datetime | None) -> datetime | None:
    """A planned go-live as stored: aware (a naive time is taken as UTC), and not already past."""
    if due_at is None:
        return None
    if timezone.is_naive(due_at):
        due_at = timezone.make_aware(due_at, dt_timezone.utc)
    if due_at < timezone.now() - timedelta(minutes=5):
        raise InvalidInput("The due time is in the past; give the planned go-live, e.g. 2026-12-01T18:00:00Z.")
    return due_at


def _default_owners(version: ChecklistVersion, *, team) -> dict:
    """The checklist's owners who exist, are active and may read its deployments (of `team`): {username: user}."""
    names = set(version.items.exclude(owner="").values_list("owner", flat=True))
    if not names:
        return {}
    users = get_user_model().objects.filter(username__in=names, is_active=True)
    return {user.get_username(): user for user in users if roles.can(user, "read", team=team)}


def _carry_origin(from_id: int, actor) -> Deployment:
    origin = (
        Deployment.objects.select_related("environment__service", "version__checklist").filter(pk=from_id).first()
    )
    if origin is None or not roles.can(actor, "read", team=origin.owner_team_id):
        raise NotFound(f"There is no deployment {from_id} to carry evidence from.")
    if origin.status != Deployment.Status.SIGNED_OFF:
        raise Conflict(
            f"Deployment {from_id} is not signed off: evidence carries over only from a signed-off deployment. "
            "Sign it off first, or start this one without `from`."
        )
    return origin


def _check_origin(origin: Deployment, *, environment, version: ChecklistVersion, release: str) -> None:
    if origin.release != release:
        raise InvalidInput(
            f"Deployment {origin.pk} is of release `{origin.release}`, not `{release}`: "
            "evidence carries over only within one release."
        )
    if origin.environment.service_id != environment.service_id:
        raise InvalidInput(
            f"Deployment {origin.pk} is of {origin.environment.service.name}, not {environment.service.name}: "
            "evidence carries over only within one service."
        )
    if origin.version.checklist_id != version.checklist_id:
        raise InvalidInput(
            f"Deployment {origin.pk} was checked against `{origin.version.checklist.slug}`, not "
            f"`{version.checklist.slug}`: evidence carries over only within one checklist."
        )


#: What a carried state takes over from the one it is carried from.
CARRIED_FIELDS = (
    "state", "note", "evidence_url", "updated_by", "updated_by_name", "updated_at",
    "latest_run_id", "result", "last_passed_at", "carried_from",
    "waiver_reason", "waived_by", "waived_by_name", "waived_at", "waiver_expires_at", "waiver_proposed",
    "waiver_approved_by_name",
)


def evidence_carry(*, deployment: Deployment, origin: Deployment | None, actor, source: str) -> int:
    """Take evidence over from earlier deployments into a new one; returns how many items it set.

    - From `origin` (a signed-off deployment of the same release): the done states (passed, waived,
      n/a) of items whose checklist says `scope: release`.
    - For the other items with `valid: <duration>`: the latest `passed` attestation of the same
      checklist in this environment's signed-off deployments that is younger than the duration.

    A carried state keeps who set it and when, and names the deployment where it was attested
    (`carried_from`); each appends one `carried` event. Items that follow their children are not
    carried: they follow their carried children. Runs in the caller's transaction.
    """
    items = {
        item.key: item
        for item in Item.objects.filter(version_id=deployment.version_id, has_children=False)
        .filter(Q(scope=Item.Scope.RELEASE) | Q(valid_for__isnull=False))
    }
    if not items:
        return 0
    sources: dict[str, tuple[ItemState, str]] = {}
    if origin is not None:
        release_keys = [key for key, item in items.items() if item.scope == Item.Scope.RELEASE]
        for state in ItemState.objects.filter(
            deployment=origin, item__key__in=release_keys, state__in=DONE
        ).select_related("item", "deployment__environment"):
            sources[state.item.key] = (state, "release")
    now = timezone.now()
    valid = {key: item for key, item in items.items() if item.valid_for is not None and key not in sources}
    if valid:
        oldest = now - max(item.valid_for for item in valid.values())
        candidates = (
            ItemState.objects.filter(
                deployment__environment_id=deployment.environment_id,
                deployment__status=Deployment.Status.SIGNED_OFF,
                deployment__version__checklist_id=deployment.version.checklist_id,
                item__key__in=list(valid),
                state=State.PASSED,
                updated_at__gte=oldest,
            )
            .exclude(deployment=deployment)
            .select_related("item", "deployment__environment")
            .order_by("-updated_at", "-id")
        )
        for state in candidates:
            key = state.item.key
            if key not in sources and state.updated_at >= now - valid[key].valid_for:
                sources[key] = (state, "valid")
    if not sources:
        return 0

    targets = {
        state.item.key: state
        for state in ItemState.objects.select_for_update(of=("self",))
        .filter(deployment=deployment, item__key__in=list(sources))
        .select_related("item")
    }
    origins = {
        d.pk: d
        for d in Deployment.objects.select_related("environment").filter(
            pk__in={state.carried_from_id or state.deployment_id for state, _ in sources.values()}
        )
    }
    carried, events = [], []
    for key, (source_state, reason) in sources.items():
        target = targets[key]
        for name in CARRIED_FIELDS:
            attname = ItemState._meta.get_field(name).attname  # `updated_by_id`: no query per row
            setattr(target, attname, getattr(source_state, attname))
        attested_in = origins[source_state.carried_from_id or source_state.deployment_id]
        target.carried_from = attested_in
        carried.append(target)
        at = source_state.updated_at
        events.append(Event(**event_fields(
            kind=Event.Kind.CARRIED, source=source, actor=actor, deployment=deployment, item=target.item,
            before=State.PENDING, after=target.state,
            note=(
                f"Carried over from {attested_in.release} in {attested_in.environment.name} "
                f"(deployment {attested_in.pk}): {target.state} by {target.updated_by_name or 'unknown'}"
                + (f" at {at:%Y-%m-%d %H:%M} UTC" if at else "")
                + (" — its evidence holds for the release." if reason == "release" else " — still within its validity.")
            ),
            data={
                "from": attested_in.pk, "reason": reason, "by": target.updated_by_name,
                "at": at.isoformat() if at else None,
            },
        )))
    rows_save(carried, list(CARRIED_FIELDS))
    events_append(events)
    parents = {state.item.parent_id: state.item for state in carried if state.item.parent_id}
    for item in parents.values():
        refresh_parent(deployment, item, actor=actor, source=source)
    return len(carried)
