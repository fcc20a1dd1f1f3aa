"""Changing item states: who may set what, bulk changes, waivers and their approval, parents following children."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from checklists.facts import item_failed_append, ready_append, ready_check, ready_recheck
from checklists.models import Deployment, Item, ItemState
from checklists.selectors import DONE, blocking_q
from core import roles
from core.actors import actor_name, actor_user
from core.db import share_locks
from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from core.events import event_append
from core.models import Event
from core.text import excerpt

State = ItemState.State


def _lock_open_deployment(deployment_id: int, *, actor, action: str, shared: bool = False) -> Deployment:
    """The deployment, locked, once `actor` may do `action` on it (404 if they may not even see it), and open.

    Only the deployment's row is locked, and the same query reads what the callers ask next: its status,
    its version (without its Markdown) and checklist, its environment and that environment's service
    (whose team the role check names).

    `shared`: a change to one item takes the row `FOR SHARE`, so changes to different items of one
    deployment run side by side (each item's own row lock orders changes to the same item), while a
    sign-off, a reopen, a probe result or a bulk change, which take it `FOR UPDATE`, wait for them and
    make them wait in turn.
    """
    query = (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("environment__service", "version__checklist")
        .defer("version__source")
    )
    try:  # `get`, not `first`, which would order by the model's ordering (newest first) to find one row
        if shared:
            with share_locks():
                deployment = query.get(pk=deployment_id)
        else:
            deployment = query.get(pk=deployment_id)
    except Deployment.DoesNotExist:
        raise NotFound("This deployment does not exist.") from None
    roles.require(actor, action, team=deployment.owner_team_id)
    if deployment.status == Deployment.Status.SIGNED_OFF:
        raise Conflict("This deployment is signed off and locked; a lead can reopen it.")
    return deployment


class ItemMoved(Conflict):
    """The item is no longer in the state the change's author saw: nothing was changed.

    `item_state` is the item as it is now (its `item` loaded), for the answer to show.
    """

    def __init__(self, item_state: ItemState, seen: str):
        who = item_state.updated_by_name or "someone"
        at = f" at {item_state.updated_at:%H:%M:%S} UTC" if item_state.updated_at else ""
        super().__init__(
            f"While you were looking, {who} set this item from {seen} to {item_state.state}{at}, so nothing "
            "was changed. Look at it again; if your change still holds, apply it anyway.",
            key=item_state.item.key, seen=seen, state=item_state.state, by=item_state.updated_by_name or None,
        )
        self.item_state = item_state


def _check_seen(seen: str | None, item_state: ItemState) -> None:
    """Refuse a change made over a state its author never saw (`seen`: the state they saw; None: not said)."""
    if seen is not None and seen != item_state.state:
        raise ItemMoved(item_state, seen)


def _valid_seen(seen: str | None) -> str | None:
    if seen is not None and seen not in State.values:
        raise InvalidInput(f"`seen` must be the state you saw, one of {', '.join(State.values)}; not `{excerpt(seen)}`.")
    return seen


def item_state_set(
    *,
    deployment_id: int,
    key: str,
    state: str | None = None,
    note: str | None = None,
    evidence_url: str | None = None,
    waiver_expires_at: datetime | None = None,
    waiver_for_days: int | None = None,
    seen: str | None = None,
    actor,
    source: str,
) -> ItemState:
    """Set an item's state and/or note, following who may set what.

    A waiver may expire (`waiver_expires_at`, or `waiver_for_days` from now): past it, the item blocks again.

    Returns the item's state with its item, the item's parent and the locked deployment loaded, so the
    answer needs no query for them. A tick of an item without a parent costs four queries: the
    deployment's lock (shared: ticks of different items run side by side), the state with its item
    (and whether anything else blocks sign-off), its update and its event (and the person's roles, once
    a request); when it clears a blocker while others still block, one more after commit (`ready_recheck`).

    `seen` is the state the author saw: if the item has moved since, `ItemMoved` (409) and nothing changes.
    """
    seen = _valid_seen(seen or None)
    expires = _waiver_expiry(waiver_expires_at, waiver_for_days, waiving=state == State.WAIVED)
    if state is None and note is None and evidence_url is None:
        raise InvalidInput("Give a `state`, a `note` or an `evidence_url`.")
    if state is not None and state not in State.values:
        raise InvalidInput(f"`{excerpt(state)}` is not a state; use one of {', '.join(State.values)}.")
    note = note.strip() if note is not None else None
    if evidence_url is not None:
        evidence_url = _valid_evidence_url(evidence_url)
    roles.grants(actor)  # the person's roles, read before the lock is taken: one round trip fewer while it is held
    with transaction.atomic():
        deployment = _lock_open_deployment(deployment_id, actor=actor, action="tick", shared=True)
        team = deployment.owner_team_id
        states = ItemState.objects.select_for_update(of=("self",)).select_related("item__parent")
        if state in DONE:
            # Whether anything but this item (and its parent, which follows it) blocks, asked in the same
            # query: if not, this change clears the last blocker (`ready_for_signoff`) at no extra cost.
            states = states.annotate(others_block=Exists(
                ItemState.objects.filter(deployment_id=deployment.pk).filter(blocking_q(timezone.now()))
                .exclude(pk=OuterRef("pk")).exclude(item_id=Coalesce(OuterRef("item__parent_id"), 0))  # NULL-safe
            ))
        try:  # `get`, not `first`: the key is unique in the version, and ordering the rows costs compiling it
            item_state = states.get(deployment=deployment, item__key=key)
        except ItemState.DoesNotExist:
            raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.") from None
        item_state.deployment = deployment
        _check_seen(seen, item_state)
        item = item_state.item
        before = item_state.state
        if state == State.WAIVED and before == State.WAIVED:
            _waiver_replace(item_state, note, expires, actor, deployment=deployment, source=source)
            state = None
            note = None
        if state is not None and state != before:
            _check_state_change(item_state, state, note, actor, team=team)
            if state != State.WAIVED and item.has_children:
                if not (state == State.PENDING and before == State.WAIVED):
                    raise InvalidInput("This item is done when all its children are; set its children instead.")
                state = _children_state(deployment, item)
            elif state == State.PENDING and item.automated:
                state = state_for_result(item_state.result) or State.PENDING
        if state is not None and state != before:
            item_state.state = state
            if state == State.WAIVED:
                _waiver_stamp(item_state, note, actor, expires=expires)
            else:
                _waiver_stamp(item_state, "", None)
                if note is not None:
                    item_state.note = note
            if evidence_url is not None:
                item_state.evidence_url = evidence_url
            _stamp(item_state, actor)
            item_state.save()
            kind = Event.Kind.WAIVE if state == State.WAIVED else Event.Kind.STATE
            event = event_append(
                kind=kind, source=source, actor=actor, deployment=deployment, item=item,
                before=before, after=state, note=note or "",
                data={
                    **({"evidence_url": evidence_url} if evidence_url else {}),
                    **(_waiver_data(item_state) if state == State.WAIVED else {}),
                } or None,
            )
            if state == State.FAILED:
                item_failed_append(deployment=deployment, item=item, actor=actor, source=source, note=note or "")
            parent_after = refresh_parent(deployment, item, actor=actor, source=source)
            # A proposed waiver still blocks until a second lead approves it: not ready yet.
            if not item.optional and before not in DONE and state in DONE and not item_state.waiver_proposed:
                if item.parent_id is not None and item.parent.parent_id is not None:
                    ready = ready_check(deployment=deployment, actor=actor, source=source)  # deeper nesting: ask
                else:
                    ready = not item_state.others_block and (
                        item.parent_id is None or item.parent.optional or parent_after in DONE
                    )
                    if ready:
                        ready_append(deployment=deployment, actor=actor, source=source)
                if not ready:  # unless another change, not yet committed, cleared what still blocked here
                    transaction.on_commit(
                        lambda: ready_recheck(deployment_id=deployment.pk, after=event.pk, actor=actor, source=source),
                        robust=True,
                    )
        else:
            # A note or evidence link: who set the state, and the waiver, stay as they were.
            changed = False
            if note is not None and note != item_state.note:
                item_state.note, changed = note, True
            if evidence_url is not None and evidence_url != item_state.evidence_url:
                item_state.evidence_url, changed = evidence_url, True
            if changed:
                item_state.save(update_fields=["note", "evidence_url"])
                event_append(
                    kind=Event.Kind.NOTE, source=source, actor=actor, deployment=deployment, item=item,
                    before=item_state.state, after=item_state.state, note=item_state.note,
                    data={"evidence_url": item_state.evidence_url} if item_state.evidence_url else None,
                )
    return item_state


class ItemsRefused(DomainError):
    """A bulk change refused: `refused` names each item and why; nothing changed."""

    def __init__(self, refused: list[dict], total: int, status: int):
        named = "; ".join(f"`{excerpt(entry['key'])}`: {entry['error']}" for entry in refused[:5])
        more = f"; and {len(refused) - 5} more" if len(refused) > 5 else ""
        super().__init__(
            f"{len(refused)} of the {total} items cannot be changed so, and nothing was: {named}{more}",
            refused=refused,
        )
        self.status = status


def items_bulk_set(
    *,
    deployment_id: int,
    keys: list[str],
    state: str,
    note: str | None = None,
    seen: dict[str, str] | None = None,
    actor,
    source: str,
) -> list[ItemState]:
    """Set many items to one state with one note (a waiver's reason), in one transaction.

    Each item follows the rules of `item_state_set` (which applies them), and each that changes appends
    its own event; `seen` maps keys to the state their author saw. If any item is refused, nothing
    changes and `ItemsRefused` names every refused item and why.
    """
    keys = list(dict.fromkeys(key for key in keys or () if key))
    if not keys:
        raise InvalidInput("Choose at least one item to change.")
    if len(keys) > settings.CTRLREADY_MAX_ITEMS:
        raise InvalidInput(f"Change at most {settings.CTRLREADY_MAX_ITEMS} items at once.")
    if state not in State.values:
        raise InvalidInput(f"`{excerpt(str(state))}` is not a state; use one of {', '.join(State.values)}.")
    seen = {key: _valid_seen(value) for key, value in (seen or {}).items()}
    refused, changed = [], []
    statuses = set()
    with transaction.atomic():
        # Once for all: refused whole if locked or not the person's to change; each item's change then holds the lock.
        _lock_open_deployment(deployment_id, actor=actor, action="tick")
        for key in keys:
            try:
                with transaction.atomic():
                    changed.append(item_state_set(
                        deployment_id=deployment_id, key=key, state=state, note=note, seen=seen.get(key),
                        actor=actor, source=source,
                    ))
            except DomainError as error:
                statuses.add(error.status)
                refused.append({"key": key, "error": error.message})
        if refused:
            status = 409 if 409 in statuses else 403 if 403 in statuses else 404 if statuses == {404} else 400
            raise ItemsRefused(refused, len(keys), status)
    return changed


#: What a waiver is made of, written together by `_waiver_stamp`.
WAIVER_FIELDS = [
    "waiver_reason", "waived_by", "waived_by_name", "waived_at", "waiver_expires_at", "waiver_proposed",
    "waiver_approved_by_name", "waiver_expiry_noted",
]


def _waiver_stamp(item_state: ItemState, reason: str, actor, *, expires: datetime | None = None) -> None:
    """Write the waiver (a lead waiving: reason, author, expiry; proposed if approval is required), or clear it
    (`actor` None: no longer waived)."""
    waiving = actor is not None
    item_state.waiver_reason = reason
    item_state.waived_by = actor_user(actor) if waiving else None
    item_state.waived_by_name = actor_name(actor) if waiving else ""
    item_state.waived_at = timezone.now() if waiving else None
    item_state.waiver_expires_at = expires if waiving else None
    item_state.waiver_proposed = waiving and settings.CTRLREADY_WAIVER_APPROVAL and not item_state.item.optional
    item_state.waiver_approved_by_name = ""
    item_state.waiver_expiry_noted = False


def _waiver_data(item_state: ItemState) -> dict:
    data = {}
    if item_state.waiver_expires_at is not None:
        data["expires_at"] = item_state.waiver_expires_at.isoformat()
    if item_state.waiver_proposed:
        data["proposed"] = True
    return data


def _waiver_expiry(expires_at: datetime | None, for_days: int | None, *, waiving: bool) -> datetime | None:
    """When a waiver being given ends: at `expires_at`, or `for_days` from now; None: it does not expire."""
    if expires_at is None and for_days is None:
        return None
    if not waiving:
        raise InvalidInput("An expiry (`expires_at` or `for_days`) goes with a waiver: send it with `state: waived`.")
    if expires_at is not None and for_days is not None:
        raise InvalidInput("Give the waiver's `expires_at` or its `for_days`, not both.")
    if for_days is not None:
        if not 1 <= for_days <= 3650:
            raise InvalidInput("`for_days` must be a whole number of days from 1 to 3650.")
        return timezone.now() + timedelta(days=for_days)
    if timezone.is_naive(expires_at):
        expires_at = timezone.make_aware(expires_at, dt_timezone.utc)
    if expires_at <= timezone.now():
        raise InvalidInput("The waiver's expiry is in the past: give a later `expires_at`, or `for_days`.")
    return expires_at


def _waiver_replace(
    item_state: ItemState, reason: str | None, expires: datetime | None, actor, *, deployment, source: str
) -> None:
    """A lead gives a waived item a new reason or expiry: the waiver is theirs from now on (and, when approval
    is required, proposed again)."""
    roles.require(actor, "waive", team=deployment.owner_team_id)
    if not reason:
        raise InvalidInput("Say why this item is waived: a reason is required.")
    if reason == item_state.waiver_reason and expires == item_state.waiver_expires_at:
        return
    _waiver_stamp(item_state, reason, actor, expires=expires)
    item_state.save(update_fields=WAIVER_FIELDS)
    event_append(
        kind=Event.Kind.WAIVE, source=source, actor=actor, deployment=deployment, item=item_state.item,
        before=State.WAIVED, after=State.WAIVED, note=reason, data=_waiver_data(item_state) or None,
    )


def waiver_approve(*, deployment_id: int, key: str, actor, source: str) -> ItemState:
    """A second lead approves a proposed waiver (CTRLREADY_WAIVER_APPROVAL): from now on it counts."""
    with transaction.atomic():
        deployment = _lock_open_deployment(deployment_id, actor=actor, action="waive")
        item_state = (
            ItemState.objects.select_for_update(of=("self",)).select_related("item")
            .filter(deployment=deployment, item__key=key).first()
        )
        if item_state is None:
            raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.")
        if item_state.state != State.WAIVED or not item_state.waiver_proposed:
            raise Conflict("This item has no waiver waiting for approval.")
        if item_state.waived_by_id == actor_user(actor).pk:
            raise Forbidden("You proposed this waiver; another lead must approve it.")
        item_state.waiver_proposed = False
        item_state.waiver_approved_by_name = actor_name(actor)
        item_state.save(update_fields=["waiver_proposed", "waiver_approved_by_name"])
        event_append(
            kind=Event.Kind.WAIVER_APPROVED, source=source, actor=actor, deployment=deployment,
            item=item_state.item, before=State.WAIVED, after=State.WAIVED,
            note=f"Approved the waiver by {item_state.waived_by_name}: {item_state.waiver_reason}",
            data={"proposed_by": item_state.waived_by_name},
        )
        ready_check(deployment=deployment, actor=actor, source=source)  # it may have been the last blocker
    return item_state


def _valid_evidence_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    if len(url) > 1000:
        raise InvalidInput("The evidence link is longer than 1000 characters; link to a shorter address.")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise InvalidInput("The evidence link must be a full http(s) URL, e.g. https://ci.example.com/runs/42.") from None
    return url


def _stamp(item_state: ItemState, actor) -> None:
    """Record who changed the item and when; a carried state becomes this deployment's own."""
    item_state.updated_by = actor_user(actor)
    item_state.updated_by_name = actor_name(actor)
    item_state.updated_at = timezone.now()
    item_state.carried_from = None


def _check_state_change(item_state: ItemState, state: str, note: str | None, actor, *, team) -> None:
    item = item_state.item
    if state == State.WAIVED:
        roles.require(actor, "waive", team=team)
        if not note:
            raise InvalidInput("Say why this item is waived: a reason is required.")
        return
    if item.automated:
        if state in (State.PASSED, State.FAILED):
            raise InvalidInput(
                "This item is checked by its probe: run the probe, or a lead can waive it or mark it n/a."
            )
        if state == State.NA:
            roles.require(actor, "waive", team=team)
            if not note:
                raise InvalidInput("Say why this automated item does not apply: a note is required.")
        if state == State.PENDING and item_state.state in (State.WAIVED, State.NA):
            roles.require(actor, "waive", team=team)
        return
    if item_state.state == State.WAIVED:
        roles.require(actor, "waive", team=team)


def _children_state(deployment: Deployment, item: Item) -> str:
    """The state a parent item follows: passed when every child is done, failed if one failed."""
    children = list(
        ItemState.objects.filter(deployment=deployment, item__parent_id=item.pk).values_list("state", flat=True)
    )
    if all(state in DONE for state in children):
        return State.PASSED
    if any(state == State.FAILED for state in children):
        return State.FAILED
    return State.PENDING


def refresh_parent(deployment: Deployment, item: Item, *, actor, source: str) -> str | None:
    """A parent item is done when all its children are: keep its stored state in step.

    Returns the parent's state afterwards (None for an item without a parent).
    """
    if item.parent_id is None:
        return None
    parent_state = ItemState.objects.select_for_update(of=("self",)).select_related("item").get(
        deployment=deployment, item_id=item.parent_id
    )
    if parent_state.state == State.WAIVED:
        return parent_state.state
    derived = _children_state(deployment, parent_state.item)
    if derived != parent_state.state:
        before = parent_state.state
        parent_state.state = derived
        _stamp(parent_state, actor)
        parent_state.save()
        event_append(
            kind=Event.Kind.STATE, source=source, actor=actor, deployment=deployment, item=parent_state.item,
            before=before, after=derived, note="Follows its children.",
        )
        refresh_parent(deployment, parent_state.item, actor=actor, source=source)
    return parent_state.state


def state_for_result(result: dict | None) -> str | None:
    """What a probe run's result says about its item — the one place this rule is written.

    `passed` → passed; `failed`, or an `error` met at the environment (refused, timed out) → failed;
    *not configured* → pending (it never counts as passed). A run that never reached the environment
    (its worker was lost, the queue was down: `reached` is false) says nothing: None.
    """
    if not result or not result.get("reached", True):
        return None
    if result.get("not_configured"):
        return State.PENDING
    return State.PASSED if result.get("status") == "passed" else State.FAILED
