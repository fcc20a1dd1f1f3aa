"""The rules of the domain.  The API, the pages, the commands and the tasks all write through here."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from checklists.models import Checklist, ChecklistVersion, Deployment, Item, ItemState, Section, SignOff
from checklists.parsing import MAX_BYTES, ChecklistError, ParsedChecklist, parse_checklist
from checklists.selectors import blocking_q, deployment_snapshot, freshness_cutoff
from core import roles
from core.actors import SYSTEM, actor_name, actor_user
from core.db import share_locks
from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, TooLarge
from core.events import event_append, event_fields, events_append
from core.live import live_touch
from core.models import Event, Source
from core.queue import task_send
from core.text import excerpt

logger = logging.getLogger(__name__)

State = ItemState.State
DONE = frozenset({State.PASSED, State.WAIVED, State.NA})
MANUAL_STATES = frozenset({State.PENDING, State.PASSED, State.FAILED, State.NA})


# --- Import -----------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    version: ChecklistVersion
    created: bool

    def as_dict(self) -> dict:
        return {
            "checklist": self.version.checklist.slug,
            "version": self.version.number,
            "sha256": self.version.sha256,
            "counts": _ordered_counts(self.version.counts),
        }


COUNT_ORDER = ("sections", "groups", "items", "optional_items", "automated_items")


def _ordered_counts(counts: dict) -> dict:
    """The counts in the documented order (PostgreSQL's jsonb does not keep the order they were stored in)."""
    return {
        **{key: counts[key] for key in COUNT_ORDER if key in counts},
        **{key: value for key, value in counts.items() if key not in COUNT_ORDER},
    }


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def checklist_name_check(*, name: str, existing: Checklist | None = None) -> Checklist | None:
    """The checklist an import under `name` adds a version to (None: a new one).

    Two names that differ only in punctuation or symbols share a slug: the second is refused rather
    than silently becoming a version of the first. Case and spacing do not make a different name.
    """
    slug = slugify(name)
    if existing is None:
        existing = Checklist.objects.filter(slug=slug).first()
    if existing is not None and not _same_name(existing.name, name):
        raise Conflict(
            f"The name “{excerpt(name)}” gives the address `{excerpt(slug)}`, which already belongs to the "
            f"checklist “{excerpt(existing.name)}”: import under that exact name to add a version to it, "
            "or choose a name that differs in its letters or digits."
        )
    return existing


def _check_size(markdown: str | bytes) -> None:
    size = len(markdown) if isinstance(markdown, bytes) else len(markdown.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise TooLarge("The file is larger than 2 MB; split it into several checklists.")


def _source_text(markdown: str | bytes) -> str:
    """The text as stored and hashed (only called once the parser has accepted it)."""
    if isinstance(markdown, bytes):
        return markdown.decode("utf-8-sig")
    return markdown


@dataclass(frozen=True)
class _ImportSource:
    """A file accepted for import: what the parser made of it, its text and hash, and the checklist it goes to."""

    parsed: ParsedChecklist
    text: str
    sha256: str
    name: str
    slug: str


def _import_source(markdown: str | bytes, name: str) -> _ImportSource:
    """Parse a file for import and name its checklist: `name`, else the file's title; its slug is `slugify`'s.

    The one place the size limit, the parser's refusal and the name → slug rule of import are written.
    """
    _check_size(markdown)
    try:
        parsed = parse_checklist(markdown, max_items=settings.CTRLREADY_MAX_ITEMS)
    except ChecklistError as error:
        raise InvalidInput(str(error), line=error.line) from None
    text = _source_text(markdown)
    name = (name or parsed.title).strip()[:200]
    slug = slugify(name)
    if not slug:
        raise InvalidInput("The checklist name must contain letters or digits.")
    return _ImportSource(parsed, text, hashlib.sha256(text.encode("utf-8")).hexdigest(), name, slug)


@dataclass(frozen=True)
class ImportPreview:
    """What importing a file would do, with nothing stored."""

    parsed: ParsedChecklist
    name: str  # of the checklist it goes to
    slug: str
    existing: Checklist | None  # that checklist, if it exists
    latest_version: int | None  # its latest version
    identical_version: int | None  # the version whose text is this very file, if any: importing changes nothing

    @property
    def counts(self) -> dict:
        return self.parsed.counts()

    @property
    def sections(self) -> list[dict]:
        """The top-level sections: title, optional, and how many items are under each (nested ones included)."""
        return [
            {"title": section.title, "optional": section.optional, "items": _items_under(section)}
            for section in self.parsed.sections
        ]

    def as_dict(self) -> dict:
        return {
            "checklist": self.slug,
            "name": self.name,
            "title": self.parsed.title,
            "exists": self.existing is not None,
            "latest_version": self.latest_version,
            "identical_version": self.identical_version,
            "required_roles": list(self.parsed.required_roles),
            "counts": _ordered_counts(self.counts),
            "sections": self.sections,
        }


def _items_under(section) -> int:
    def items(nodes) -> int:
        return sum(1 + items(node.children) for node in nodes)

    return items(section.items) + sum(_items_under(sub) for sub in section.sections)


def checklist_import_preview(*, markdown: str | bytes, name: str = "", actor) -> ImportPreview:
    """What `checklist_import` would do with this file: refused for the same reasons, and nothing stored."""
    roles.require(actor, "manage", team=roles.ANY)
    source = _import_source(markdown, name)
    existing = checklist_name_check(name=source.name)
    latest = identical = None
    if existing is not None:
        latest = existing.versions.aggregate(n=Max("number"))["n"]
        identical = existing.versions.filter(sha256=source.sha256).values_list("number", flat=True).first()
    return ImportPreview(source.parsed, source.name, source.slug, existing, latest, identical)


def checklist_import(*, markdown: str | bytes, name: str = "", actor, source: str) -> ImportResult:
    """Import a Markdown checklist as a new version, or give back the identical existing one.

    Checklists are shared by every team: a site admin or an admin of any team may import.
    """
    roles.require(actor, "manage", team=roles.ANY)
    accepted = _import_source(markdown, name)
    parsed, name, slug, sha256 = accepted.parsed, accepted.name, accepted.slug, accepted.sha256

    with transaction.atomic():
        checklist, _ = Checklist.objects.get_or_create(slug=slug, defaults={"name": name})
        checklist = Checklist.objects.select_for_update().get(pk=checklist.pk)
        checklist_name_check(name=name, existing=checklist)
        existing = checklist.versions.filter(sha256=sha256).first()
        if existing is not None:
            return ImportResult(version=existing, created=False)
        number = (checklist.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = ChecklistVersion.objects.create(
            checklist=checklist,
            number=number,
            title=parsed.title,
            source=accepted.text,
            sha256=sha256,
            required_roles=list(parsed.required_roles),
            counts=parsed.counts(),
            description=parsed.description,
            created_by=actor_user(actor),
        )
        _store_tree(version, parsed)
        event_append(
            kind=Event.Kind.IMPORT,
            source=source,
            actor=actor,
            note=f"Imported {checklist.name} version {number}",
            data={"checklist": checklist.slug, "version": number, "sha256": sha256},
        )
    return ImportResult(version=version, created=True)


def _store_tree(version: ChecklistVersion, parsed) -> None:
    """Store sections and items level by level, so parents exist before their children."""
    sections_by_level: list[list[tuple[Section, object, object]]] = []
    position = 0

    def walk(parsed_sections, parent, depth):
        nonlocal position
        for parsed_section in parsed_sections:
            while len(sections_by_level) <= depth:
                sections_by_level.append([])
            section = Section(
                version=version,
                title=parsed_section.title,
                level=parsed_section.level,
                optional=parsed_section.optional,
                position=position,
                line=parsed_section.line,
                description=parsed_section.description,
            )
            position += 1
            sections_by_level[depth].append((section, parent, parsed_section))
            walk(parsed_section.sections, section, depth + 1)

    walk(parsed.sections, None, 0)
    section_for = {}
    for level in sections_by_level:
        for section, parent, parsed_section in level:
            section.parent = parent
            section_for[id(parsed_section)] = section
        Section.objects.bulk_create([section for section, _, _ in level])

    items_by_depth: list[list[tuple[Item, object]]] = []
    item_position = 0

    def add_items(parsed_items, section, path, parent, depth):
        nonlocal item_position
        for parsed_item in parsed_items:
            while len(items_by_depth) <= depth:
                items_by_depth.append([])
            item = Item(
                version=version,
                section=section,
                key=parsed_item.key,
                text=parsed_item.text,
                optional=parsed_item.optional,
                probe=parsed_item.probe,
                position=item_position,
                line=parsed_item.line,
                section_path=list(path),
                has_children=bool(parsed_item.children),
                scope=parsed_item.scope,
                valid_for=timedelta(seconds=parsed_item.valid_seconds) if parsed_item.valid_seconds else None,
                owner=parsed_item.owner,
            )
            item_position += 1
            items_by_depth[depth].append((item, parent))
            add_items(parsed_item.children, section, path, item, depth + 1)

    def walk_items(parsed_sections, path):
        for parsed_section in parsed_sections:
            here = (*path, parsed_section.title)
            add_items(parsed_section.items, section_for[id(parsed_section)], here, None, 0)
            walk_items(parsed_section.sections, here)

    walk_items(parsed.sections, ())
    for level in items_by_depth:
        for item, parent in level:
            item.parent = parent
        Item.objects.bulk_create([item for item, _ in level])


# --- Deployments ------------------------------------------------------------


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
        task_send(FIRST_RUNS_TASK, args=(deployment_id,), retry=False)
    except Exception:
        logger.warning("The probe queue could not be reached; deployment %s's probes run at the next re-check.", deployment_id)


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


# --- Facts people are told about ("Nobody waits unseen") ----------------------------


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


# --- Sign-off ---------------------------------------------------------------


class DigestMoved(Conflict):
    """A sign-off of a state that is no longer the deployment's."""


def signoff_record(*, deployment_id: int, role: str, digest: str, comment: str = "", actor, source: str) -> SignOff:
    comment = (comment or "").strip()
    with transaction.atomic():
        deployment = _lock_open_deployment(deployment_id, actor=actor, action="signoff")
        required = deployment.version.required_roles or ["lead"]
        if role not in required or role not in roles.RANK:
            raise InvalidInput(f"This deployment needs sign-off by: {', '.join(required)}; `{excerpt(role)}` is not one of them.")
        if not roles.has_role(actor, role, team=deployment.owner_team_id):
            raise Forbidden(f"You are not in the {role} role, so you cannot sign for it.")
        snapshot = deployment_snapshot(deployment)
        if snapshot.blocking:
            raise Conflict(
                f"{len(snapshot.blocking)} item(s) still block sign-off; finish, waive or mark them n/a first.",
                blocking=[row.item.key for row in snapshot.blocking],
            )
        if digest != snapshot.digest:
            raise DigestMoved("The deployment changed since you looked at it; review it again and sign the current state.")
        if deployment.signoffs.filter(role=role, voided_at__isnull=True).exists():
            raise Conflict(f"The {role} role has already signed off this deployment.")
        if settings.CTRLREADY_PREVENT_SELF_SIGNOFF and _only_person_who_ticked(deployment, actor):
            raise Forbidden("You ticked every item yourself; someone else must sign off.")
        signoff = SignOff.objects.create(
            deployment=deployment, user=actor_user(actor), username=actor_name(actor), role=role, comment=comment, digest=digest
        )
        event_append(kind=Event.Kind.SIGNOFF, source=source, actor=actor, deployment=deployment, after=role, note=comment)
        signed_roles = set(deployment.signoffs.filter(voided_at__isnull=True).values_list("role", flat=True))
        if set(required) <= signed_roles:
            deployment.status = Deployment.Status.SIGNED_OFF
            deployment.signed_off_at = timezone.now()
            deployment.save(update_fields=["status", "signed_off_at"])
            event_append(
                kind=Event.Kind.SIGNED_OFF, source=source, actor=actor, deployment=deployment,
                before=Deployment.Status.OPEN, after=Deployment.Status.SIGNED_OFF,
            )
    return signoff


def _only_person_who_ticked(deployment: Deployment, actor) -> bool:
    people = set(
        deployment.states.exclude(updated_by__isnull=True).values_list("updated_by_id", flat=True).distinct()
    )
    return people == {actor.pk}


def deployment_reopen(*, deployment_id: int, reason: str, actor, source: str) -> Deployment:
    reason = (reason or "").strip()
    with transaction.atomic():
        deployment = (
            Deployment.objects.select_for_update(of=("self",))
            .select_related("environment__service")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None:
            raise NotFound("This deployment does not exist.")
        roles.require(actor, "reopen", team=deployment.owner_team_id)
        if not reason:
            raise InvalidInput("Say why the deployment is reopened: a reason is required.")
        if deployment.status != Deployment.Status.SIGNED_OFF:
            raise Conflict("Only a signed-off deployment can be reopened.")
        voided = deployment.signoffs.filter(voided_at__isnull=True).update(voided_at=timezone.now())
        deployment.status = Deployment.Status.OPEN
        deployment.signed_off_at = None
        deployment.save(update_fields=["status", "signed_off_at"])
        event_append(
            kind=Event.Kind.REOPEN, source=source, actor=actor, deployment=deployment,
            before=Deployment.Status.SIGNED_OFF, after=Deployment.Status.OPEN, note=reason,
            data={"voided_signoffs": voided},
        )
    return deployment


# --- Probe results ---------------------------------------------------------------


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


def rows_save(rows: list, fields: list[str]) -> None:
    """Write many loaded rows in one statement.

    `bulk_update` compiles a CASE expression per row and field, which costs seconds for a
    batch of a few hundred rows; an upsert on the primary key writes the same in one fast statement.
    The rows are locked by the caller, so the insert branch is never taken.
    """
    if rows:
        type(rows[0]).objects.bulk_create(rows, update_conflicts=True, unique_fields=["id"], update_fields=fields)
