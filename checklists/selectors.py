"""Reads: what deployments, their items, their history and checklist versions look like, in a fixed number of queries."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Expression,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from checklists.models import Deployment, Environment, Item, ItemState, Section, Service, SignOff
from checklists.parsing import duration_text
from core import roles
from core.errors import InvalidInput, NotFound
from core.models import Event, Membership, Team
from core.text import excerpt

State = ItemState.State
DONE = frozenset({State.PASSED, State.WAIVED, State.NA})


# --- What a person may reach ------------------------------------------------------------------
# Every page, htmx answer and API call that names a deployment, environment or service reads it
# through one of these: 404 where the person may not see it, 403 where they may read it but not do `action`.


def deployment_for(actor, pk: int, *, action: str = "read") -> Deployment:
    """A deployment (with its environment, service and checklist) that `actor` may `action`."""
    deployment = (
        Deployment.objects.select_related("environment__service", "version__checklist", "created_by").filter(pk=pk).first()
    )
    if deployment is None:
        raise NotFound(f"There is no deployment {pk}.")
    roles.require(actor, action, team=deployment.owner_team_id)
    return deployment


def environment_for(actor, pk: int, *, action: str = "read") -> Environment:
    """An environment (with its service) that `actor` may `action`."""
    environment = Environment.objects.select_related("service").filter(pk=pk).first()
    if environment is None:
        raise NotFound(f"There is no environment {pk}.")
    roles.require(actor, action, team=environment.owner_team_id)
    return environment


def service_for(actor, pk: int, *, action: str = "read") -> Service:
    """A service that `actor` may `action`."""
    service = Service.objects.select_related("team").filter(pk=pk).first()
    if service is None:
        raise NotFound(f"There is no service {pk}.")
    roles.require(actor, action, team=service.team_id)
    return service


def environments_readable(actor) -> QuerySet:
    """The environments `actor` may read, by service and name."""
    return (
        Environment.objects.select_related("service")
        .filter(roles.readable_q(actor, "service__team"))
        .order_by("service__name", "position", "name")
    )


# What a deployment's rows are read as. A page of 2,290 items would otherwise build thousands of model
# instances per view; these take half the time, and leave half as much for the garbage collector.
# They carry the fields the pages, the API and the sign-off read (add one to the `_…_FIELDS` to read it).


@dataclass(slots=True, eq=False)
class RunRead:
    """What an item keeps of its latest finished probe run (`ItemState.result`)."""

    pk: int
    status: str
    not_configured: bool
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    message: str
    conditions: list
    #: Passed only on a retry.
    flaky: bool = False
    #: For ssh and host probes, each host's result: [{"host", "role", "status", "message", "conditions"}].
    hosts: list = field(default_factory=list)
    #: For a result pushed by CI, the link to its run.
    details_url: str = ""

    @classmethod
    def of(cls, result: dict | None) -> "RunRead | None":
        if not result:
            return None
        return cls(
            pk=result.get("run"),
            status=result.get("status", ""),
            not_configured=bool(result.get("not_configured")),
            started_at=_moment(result.get("started_at")),
            finished_at=_moment(result.get("finished_at")),
            duration_ms=result.get("duration_ms"),
            message=result.get("message", ""),
            conditions=result.get("conditions") or [],
            flaky=bool(result.get("flaky")),
            hosts=result.get("hosts") or [],
            details_url=result.get("details_url") or "",
        )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(slots=True, eq=False)
class ItemRead:
    pk: int
    key: str
    text: str
    optional: bool
    probe: dict | None
    parent_id: int | None
    section_id: int
    section_path: list
    has_children: bool
    scope: str
    valid_for: timedelta | None

    @property
    def automated(self) -> bool:
        return self.probe is not None


@dataclass(slots=True, frozen=True)
class CarriedRead:
    """Where a carried state was attested: the deployment (its id, release and environment)."""

    deployment_id: int
    release: str
    environment: str

    def as_dict(self) -> dict:
        return {"deployment": self.deployment_id, "release": self.release, "environment": self.environment}


@dataclass(slots=True, eq=False)
class StateRead:
    pk: int
    state: str
    note: str
    evidence_url: str
    updated_by_name: str
    updated_at: datetime | None
    last_passed_at: datetime | None
    run_state: str
    waiver_reason: str
    waived_by_name: str
    waived_at: datetime | None
    assignee_name: str | None  # the username of the person the item waits on
    waiver_expires_at: datetime | None
    waiver_proposed: bool
    waiver_approved_by_name: str
    latest_run_id: int | None
    item: ItemRead
    latest_run: RunRead | None
    carried: CarriedRead | None = None


_STATE_FIELDS = (
    "id", "state", "note", "evidence_url", "updated_by_name", "updated_at", "last_passed_at", "run_state",
    "waiver_reason", "waived_by_name", "waived_at", "assignee__username", "waiver_expires_at", "waiver_proposed",
    "waiver_approved_by_name",
)
_ITEM_FIELDS = ("item__id", "item__key", "item__text", "item__optional", "item__probe", "item__parent_id",
                "item__section_id", "item__section_path", "item__has_children", "item__scope", "item__valid_for")
_RUN_FIELDS = ("latest_run_id", "result")
_CARRIED_FIELDS = ("carried_from_id", "carried_from__release", "carried_from__environment__name")
_ROW_FIELDS = (*_STATE_FIELDS, *_ITEM_FIELDS, *_RUN_FIELDS, *_CARRIED_FIELDS)


@dataclass
class ItemRow:
    state: ItemState | StateRead
    stale: bool
    blocking: bool
    depth: int
    lapsed: bool = False  # waived, but the waiver does not count: proposed, or past its expiry
    # Plain attributes rather than properties: pages read them many times per row.
    item: object = field(init=False)
    run: object = field(init=False)

    def __post_init__(self):
        self.item = self.state.item
        state = self.state
        self.run = state.latest_run if isinstance(state, StateRead) else RunRead.of(state.result)


@dataclass
class Snapshot:
    deployment: Deployment
    rows: list[ItemRow]
    signoffs: list[SignOff]
    digest: str
    progress: dict
    blocking: list[ItemRow] = field(default_factory=list)

    @property
    def required_roles(self) -> list[str]:
        return required_roles(self.deployment)

    @property
    def missing_roles(self) -> list[str]:
        return missing_roles(self.deployment, self.signoffs)


def required_roles(deployment: Deployment) -> list[str]:
    return deployment.version.required_roles or ["lead"]


def missing_roles(deployment: Deployment, signoffs: list[SignOff]) -> list[str]:
    signed = {signoff.role for signoff in signoffs}
    return [role for role in required_roles(deployment) if role not in signed]


def valid_text(valid_for: timedelta | None) -> str | None:
    """An item's `valid` as the checklist writes it (`90d`), or None."""
    return duration_text(int(valid_for.total_seconds())) if valid_for else None


def freshness_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES)


def snapshot_moment(deployment: Deployment, now: datetime | None = None) -> datetime:
    """When freshness is judged: now, or — for a signed-off deployment — the moment it was signed off.

    A signed-off deployment stays as it was signed: nothing in it goes stale afterwards, so its
    digest stays the one its signers saw, and its report says what they saw.
    """
    if now is None and deployment.status == Deployment.Status.SIGNED_OFF and deployment.signed_off_at:
        return deployment.signed_off_at
    return now or timezone.now()


def is_stale(
    *,
    automated: bool,
    state: str,
    last_passed_at: datetime | None,
    updated_at: datetime | None,
    valid_for: timedelta | None,
    carried: bool,
    cutoff: datetime,
    now: datetime,
) -> bool:
    """The freshness rule, for probe results and attestations alike — the one place it is written.

    A passing probe result goes stale once it is older than the result window (`cutoff`), unless it
    was carried over from the release's earlier deployment (`scope: release`: it is the release's
    evidence, not this environment's, until a run here replaces it). A manual item with `valid:` goes
    stale once its attestation is older than that.
    """
    if state != State.PASSED:
        return False
    if automated:
        return not carried and (last_passed_at is None or last_passed_at < cutoff)
    if valid_for is not None:
        return updated_at is None or updated_at < now - valid_for
    return False


def waiver_lapsed(*, state: str, expires_at: datetime | None, proposed: bool, now: datetime) -> bool:
    """A waiver that does not count — the one place this rule is written: still only proposed (waiting for a
    second lead's approval), or past its expiry. Judged when read, so no schedule lag lets a sign-off through."""
    return state == State.WAIVED and (proposed or (expires_at is not None and expires_at <= now))


def is_blocking(*, optional: bool, state: str, stale: bool, lapsed: bool = False) -> bool:
    """An item blocks sign-off while it is required and not done, or done by a stale result or a lapsed waiver."""
    return not optional and (state not in DONE or stale or lapsed)


# The same two rules for the database, where counts are taken without reading every row (ItemState rows).


def stale_q(moment: datetime | Expression) -> Q:
    """`is_stale` as a filter on ItemState rows, judged at `moment`: a time, or an expression per row."""
    ttl = timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES)
    if isinstance(moment, datetime):
        cutoff = moment - ttl
        at = Value(moment, output_field=DateTimeField())
    else:
        cutoff = ExpressionWrapper(moment - Value(ttl), output_field=DateTimeField())
        at = moment
    attested_before = ExpressionWrapper(at - F("item__valid_for"), output_field=DateTimeField())
    probe_stale = Q(item__probe__isnull=False, carried_from__isnull=True) & (
        Q(last_passed_at__isnull=True) | Q(last_passed_at__lt=cutoff)
    )
    attestation_stale = Q(item__probe__isnull=True, item__valid_for__isnull=False) & (
        Q(updated_at__isnull=True) | Q(updated_at__lt=attested_before)
    )
    return Q(state=State.PASSED) & (probe_stale | attestation_stale)


def lapsed_q(moment: datetime | Expression) -> Q:
    """`waiver_lapsed` as a filter on ItemState rows, judged at `moment`."""
    return Q(state=State.WAIVED) & (Q(waiver_proposed=True) | Q(waiver_expires_at__lte=moment))


def blocking_q(moment: datetime | Expression) -> Q:
    return Q(item__optional=False) & (~Q(state__in=DONE) | stale_q(moment) | lapsed_q(moment))


def judged_at(now: datetime) -> Case:
    """`snapshot_moment` for each ItemState row: its deployment's sign-off if it is signed off, else `now`."""
    return Case(
        When(
            deployment__status=Deployment.Status.SIGNED_OFF,
            deployment__signed_off_at__isnull=False,
            then=F("deployment__signed_off_at"),
        ),
        default=Value(now),
        output_field=DateTimeField(),
    )


def outline_depths(nodes: Iterable[tuple[int, int | None]]) -> dict[int, int]:
    """How deep each node of an outline sits (0 at the top), from `(id, parent id)` pairs in document order.

    The one place the depth of a section or an item is worked out; a parent comes before its children.
    """
    depth_of: dict[int, int] = {}
    for pk, parent_id in nodes:
        depth_of[pk] = depth_of[parent_id] + 1 if parent_id in depth_of else 0
    return depth_of


def _states(deployment: Deployment):
    return ItemState.objects.filter(deployment=deployment).order_by("item__position")


def _rows_of(values, now: datetime) -> list[ItemRow]:
    """Rows of `values` (`_ROW_FIELDS`), judged at `now`."""
    item_at, run_at = len(_STATE_FIELDS), len(_STATE_FIELDS) + len(_ITEM_FIELDS)
    carried_at = run_at + len(_RUN_FIELDS)
    states = []
    for value in values:
        item = ItemRead(*value[item_at:run_at])
        run_id, result = value[run_at:carried_at]
        carried = CarriedRead(*value[carried_at:]) if value[carried_at] is not None else None
        states.append(
            StateRead(*value[:item_at], latest_run_id=run_id, item=item, latest_run=RunRead.of(result), carried=carried)
        )
    depth_of = outline_depths((state.item.pk, state.item.parent_id) for state in states)
    cutoff = freshness_cutoff(now)
    return [item_row(state, cutoff=cutoff, now=now, depth=depth_of[state.item.pk]) for state in states]


def item_rows(deployment: Deployment, *, now: datetime | None = None, automated: bool = False) -> list[ItemRow]:
    """Every item of the deployment in document order (or only its automated ones), with its state, latest
    run and origin, in one query; judged now, or — signed off — as it was signed."""
    states = _states(deployment)
    if automated:
        states = states.filter(item__probe__isnull=False)
    return _rows_of(states.values_list(*_ROW_FIELDS), snapshot_moment(deployment, now))


def item_rows_with_parents(deployment: Deployment, keys: Iterable[str], *, now: datetime | None = None) -> list[ItemRow]:
    """The rows of `keys` and of every item above them, in document order, in one query whatever the size.

    A parent follows its children, so it changes with them. Parents are in their children's section and
    have children: only those rows are read besides the ones asked for, never the whole deployment.
    """
    keys = list(keys)
    items = Item.objects.filter(version_id=deployment.version_id)
    sections = items.filter(key__in=keys).values("section_id")
    wanted_items = items.filter(Q(key__in=keys) | Q(has_children=True, section_id__in=sections)).values("id")
    values = _states(deployment).filter(item_id__in=wanted_items).values_list(*_ROW_FIELDS)
    rows = _rows_of(values, snapshot_moment(deployment, now))
    by_pk = {row.item.pk: row for row in rows}
    wanted: set[int] = set()
    for row in rows:
        if row.item.key in keys:
            while row is not None and row.item.pk not in wanted:
                wanted.add(row.item.pk)
                row = by_pk.get(row.item.parent_id)
    return [row for row in rows if row.item.pk in wanted]


def item_row(
    item_state: ItemState | StateRead, *, cutoff: datetime | None = None, now: datetime | None = None, depth: int = 0
) -> ItemRow:
    """One item's row (stale, blocking) from its state with `item` and `latest_run` loaded."""
    now = now or timezone.now()
    cutoff = cutoff or freshness_cutoff(now)
    item = item_state.item
    if isinstance(item_state, StateRead):
        carried = item_state.carried is not None
    else:
        carried = item_state.carried_from_id is not None
    stale = is_stale(
        automated=item.probe is not None,
        state=item_state.state,
        last_passed_at=item_state.last_passed_at,
        updated_at=item_state.updated_at,
        valid_for=item.valid_for,
        carried=carried,
        cutoff=cutoff,
        now=now,
    )
    lapsed = waiver_lapsed(
        state=item_state.state, expires_at=item_state.waiver_expires_at, proposed=item_state.waiver_proposed, now=now
    )
    blocking = is_blocking(optional=item.optional, state=item_state.state, stale=stale, lapsed=lapsed)
    return ItemRow(state=item_state, stale=stale, blocking=blocking, depth=depth, lapsed=lapsed)


def _waiver_seen(reason: str, expires_at: datetime | None, proposed: bool) -> str:
    """A waiver as the digest keeps it: its reason, and its expiry and approval when it has them."""
    if expires_at is not None:
        reason += f"\0until {_iso(expires_at)}"
    if proposed:
        reason += "\0proposed"
    return reason


class _Digest:
    """What a signer saw, line by line: each item's key, state, note, waiver, evidence link, latest run and
    staleness (or a waiver that lapsed)."""

    def __init__(self, deployment: Deployment):
        self.hasher = hashlib.sha256(f"{deployment.pk}:{deployment.status}\n".encode())

    def add(
        self, key: str, state: str, note: str, waiver_reason: str, evidence_url: str, latest_run_id: int | None,
        stale: bool,
    ) -> None:
        self.hasher.update(
            f"{key}\0{state}\0{note}\0{waiver_reason}\0{evidence_url}\0{latest_run_id or ''}\0{stale}\n".encode()
        )

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()


def digest_of(deployment: Deployment, rows: list[ItemRow]) -> str:
    """What a signer saw: every item's state, note, waiver, evidence and latest run, and the deployment's status."""
    digest = _Digest(deployment)
    for row in rows:
        state = row.state
        digest.add(
            row.item.key, state.state, state.note,
            _waiver_seen(state.waiver_reason, state.waiver_expires_at, state.waiver_proposed),
            state.evidence_url, state.latest_run_id, row.stale or row.lapsed,
        )
    return digest.hexdigest()


def done_of(counts: dict) -> int:
    """How many items are done: passed, n/a, or waived by a waiver still in force (not `lapsed`)."""
    return counts["passed"] + counts["waived"] - counts["lapsed"] + counts["na"]


class _Progress:
    """Counts per state, of items that block, of stale ones and of lapsed waivers, and `done`."""

    def __init__(self):
        self.counts = {
            "total": 0, "passed": 0, "failed": 0, "pending": 0, "waived": 0, "na": 0, "blocking": 0, "stale": 0, "lapsed": 0,
        }

    def add(self, state: str, blocking: bool, stale: bool, lapsed: bool) -> None:
        counts = self.counts
        counts["total"] += 1
        counts[state] += 1
        counts["blocking"] += blocking
        counts["stale"] += stale
        counts["lapsed"] += lapsed

    def result(self) -> dict:
        return {**self.counts, "done": done_of(self.counts)}


def progress_of(rows: list[ItemRow]) -> dict:
    progress = _Progress()
    for row in rows:
        progress.add(row.state.state, row.blocking, row.stale, row.lapsed)
    return progress.result()


def deployment_snapshot(deployment: Deployment, *, now: datetime | None = None) -> Snapshot:
    """The deployment as it stands (or, signed off, as it was signed): rows, sign-offs, digest, progress."""
    rows = item_rows(deployment, now=now)
    signoffs = _signoffs(deployment)
    return Snapshot(
        deployment=deployment,
        rows=rows,
        signoffs=signoffs,
        digest=digest_of(deployment, rows),
        progress=progress_of(rows),
        blocking=[row for row in rows if row.blocking],
    )


def _signoffs(deployment: Deployment) -> list[SignOff]:
    return list(deployment.signoffs.filter(voided_at__isnull=True).order_by("at"))


# --- A version's outline -----------------------------------------------------------


@dataclass(slots=True, eq=False)
class OutlineItem:
    key: str
    text: str
    optional: bool
    probe: dict | None
    depth: int


@dataclass(slots=True, eq=False)
class OutlineSection:
    pk: int
    parent_id: int | None
    title: str
    optional: bool
    description: str  # the prose under its heading, as Markdown
    depth: int
    items: list[OutlineItem] = field(default_factory=list)


def version_outline(version_id: int, *, items: bool = False) -> list[OutlineSection]:
    """A checklist version's sections in document order with their depth; with `items`, each with its items.

    One query for the sections, one more for the items.
    """
    values = list(
        Section.objects.filter(version_id=version_id)
        .order_by("position")
        .values_list("id", "parent_id", "title", "optional", "description")
    )
    depth_of = outline_depths((pk, parent_id) for pk, parent_id, *_ in values)
    sections = {
        pk: OutlineSection(pk, parent_id, title, optional, description, depth_of[pk])
        for pk, parent_id, title, optional, description in values
    }
    if items:
        rows = list(
            Item.objects.filter(version_id=version_id)
            .order_by("position")
            .values_list("id", "parent_id", "section_id", "key", "text", "optional", "probe")
        )
        item_depth = outline_depths((pk, parent_id) for pk, parent_id, *_ in rows)
        for pk, _, section_id, key, text, optional, probe in rows:
            sections[section_id].items.append(OutlineItem(key, text, optional, probe, item_depth[pk]))
    return list(sections.values())


# --- A deployment's overview: progress by section, what blocks, who signed ----------------


@dataclass(slots=True, eq=False)
class ItemLine:
    """An item of a deployment as the overview lists it among those that block: no probe, no result."""

    key: str
    text: str
    state: str
    stale: bool


@dataclass(slots=True, eq=False)
class SectionProgress:
    """A section and the progress of every item under it, its subsections' included."""

    pk: int
    parent_id: int | None
    title: str
    optional: bool
    description: str
    depth: int
    total: int = 0
    done: int = 0
    failed: int = 0
    blocking: int = 0


@dataclass
class Overview:
    """What a deployment's panels show: progress overall and by section, what blocks, the sign-offs."""

    deployment: Deployment
    progress: dict  # as `deployment_summaries` counts it
    sections: list[SectionProgress]
    blocking: list[ItemLine]  # the first items that block, in document order
    signoffs: list[SignOff]

    @property
    def required_roles(self) -> list[str]:
        return required_roles(self.deployment)

    @property
    def missing_roles(self) -> list[str]:
        return missing_roles(self.deployment, self.signoffs)

    def sections_of(self, section_ids) -> list[SectionProgress]:
        """The sections `section_ids` and every section above them, in document order."""
        by_pk = {section.pk: section for section in self.sections}
        wanted: set[int] = set()
        for pk in section_ids:
            while pk is not None and pk not in wanted:
                wanted.add(pk)
                pk = by_pk[pk].parent_id
        return [section for section in self.sections if section.pk in wanted]


def deployment_overview(
    deployment: Deployment, *, now: datetime | None = None, blocking_kept: int = 25, assignee_id: int | None = None
) -> Overview:
    """The deployment's overview in five queries whose answers do not grow with its items.

    The database counts (overall and by section) and picks the first `blocking_kept` items that block;
    no item is read into Python, so an answer that shows the panels never pays for the whole page.
    Judged now, or — signed off — as it was signed. `mine` counts the items assigned to `assignee_id`.
    """
    moment = snapshot_moment(deployment, now)
    sections = [
        SectionProgress(
            section.pk, section.parent_id, section.title, section.optional, section.description, section.depth
        )
        for section in version_outline(deployment.version_id)
    ]
    by_pk = {section.pk: section for section in sections}
    progress = dict.fromkeys(
        ("total", "blocking", "stale", "lapsed", "in_flight", "human", "optional", "mine", *State.values), 0
    )
    states = ItemState.objects.filter(deployment=deployment)
    for row in _counts(states, "item__section_id", moment, filters=True, assignee_id=assignee_id):
        section = by_pk[row["item__section_id"]]
        section.total, section.failed, section.blocking = row["total"], row["failed"], row["blocking"]
        section.done = done_of(row)
        for key in progress:
            progress[key] += row.get(key, 0)
    progress["done"] = done_of(progress)
    # A section comes after its parent in document order: add each one's counts to its parent, last first.
    for section in reversed(sections):
        parent = by_pk.get(section.parent_id)
        if parent is not None:
            parent.total += section.total
            parent.done += section.done
            parent.failed += section.failed
            parent.blocking += section.blocking
    blocking = [
        ItemLine(key, text, state, stale)
        for key, text, state, stale in _states(deployment)
        .filter(blocking_q(moment), item__version_id=deployment.version_id)  # lets the item order's index stop early
        .annotate(stale=ExpressionWrapper(stale_q(moment), output_field=BooleanField()))
        .values_list("item__key", "item__text", "state", "stale")[:blocking_kept]
    ]
    return Overview(
        deployment=deployment, progress=progress, sections=sections, blocking=blocking, signoffs=_signoffs(deployment)
    )


#: What the deployment page's filters count besides states, blocking and stale ones (`filters=True`).
FILTER_COUNTS = {
    "human": Count("id", filter=Q(
        item__probe__isnull=True, item__has_children=False, state__in=(State.PENDING, State.FAILED)
    )),
    "optional": Count("id", filter=Q(item__optional=True)),
}


def _counts(states, by: str, moment: datetime | Expression, *, filters: bool = False, assignee_id: int | None = None):
    """Item states counted per `by`: per state, and how many block, are stale (judged at `moment`), or have a
    run in flight; with `filters`, also what the deployment page's filters count (manual items waiting on a
    person, optional items, and — given `assignee_id` — the items assigned to them: `mine`)."""
    mine = {"mine": Count("id", filter=Q(assignee_id=assignee_id))} if filters and assignee_id is not None else {}
    return (
        states.values(by)
        .annotate(
            **(FILTER_COUNTS if filters else {}),
            **mine,
            total=Count("id"),
            blocking=Count("id", filter=blocking_q(moment)),
            stale=Count("id", filter=stale_q(moment)),
            lapsed=Count("id", filter=lapsed_q(moment)),
            in_flight=Count("id", filter=~Q(run_state="")),
            **{state: Count("id", filter=Q(state=state)) for state in State.values},
        )
        .order_by()
    )


def deployment_digest(deployment: Deployment, *, now: datetime | None = None) -> str:
    """The digest a signer signs (`digest_of` the deployment's rows), from one narrow read of every item."""
    moment = snapshot_moment(deployment, now)
    cutoff = freshness_cutoff(moment)
    digest = _Digest(deployment)
    values = (
        _states(deployment)
        .annotate(automated=ExpressionWrapper(Q(item__probe__isnull=False), output_field=BooleanField()))
        .values_list(
            "item__key", "state", "note", "waiver_reason", "evidence_url", "latest_run_id", "automated",
            "last_passed_at", "updated_at", "item__valid_for", "carried_from_id", "waiver_expires_at", "waiver_proposed",
        )
    )
    for (
        key, state, note, waiver_reason, evidence_url, run_id, automated, last_passed_at, updated_at, valid_for,
        origin, expires_at, proposed,
    ) in values:
        stale = is_stale(
            automated=automated, state=state, last_passed_at=last_passed_at, updated_at=updated_at,
            valid_for=valid_for, carried=origin is not None, cutoff=cutoff, now=moment,
        )
        lapsed = waiver_lapsed(state=state, expires_at=expires_at, proposed=proposed, now=moment)
        digest.add(
            key, state, note, _waiver_seen(waiver_reason, expires_at, proposed), evidence_url, run_id, stale or lapsed
        )
    return digest.hexdigest()


# --- Summaries and comparisons (read-only) -----------------------------------


def deployment_summaries(deployment_ids, *, now: datetime | None = None) -> dict[int, dict]:
    """Progress of many deployments in one aggregate query: {deployment id: counts}.

    The same numbers as `progress_of(item_rows(...))` (`stale` and `done` included) plus `in_flight`,
    the items whose probe runs now, computed by the database, so a dashboard does not load every item
    of every deployment.
    """
    ids = list(deployment_ids)
    summaries = {pk: dict(EMPTY_PROGRESS) for pk in ids}
    if not ids:
        return summaries
    moment = judged_at(now or timezone.now())  # a signed-off deployment as it was signed
    for row in _counts(ItemState.objects.filter(deployment_id__in=ids), "deployment_id", moment):
        summary = {key: row[key] for key in ("total", "blocking", "stale", "lapsed", "in_flight", *State.values)}
        summary["done"] = done_of(summary)
        summaries[row["deployment_id"]] = summary
    return summaries


EMPTY_PROGRESS = {
    "total": 0, "blocking": 0, "stale": 0, "lapsed": 0, "in_flight": 0, **dict.fromkeys(State.values, 0), "done": 0
}


@dataclass(frozen=True)
class DeploymentSummary:
    """A deployment with its progress, as lists show it."""

    deployment: Deployment
    progress: dict


def deployment_list(
    *, actor, environment_id: int | None = None, status: str | None = None, limit: int = 100, now: datetime | None = None
) -> list[DeploymentSummary]:
    """The deployments `actor` may read, newest first, each with its progress: two queries whatever their number or size."""
    deployments = (
        Deployment.objects.select_related("version__checklist", "created_by")
        .filter(roles.readable_q(actor, "environment__service__team"))
        .order_by("-created_at", "-id")
    )
    if environment_id is not None:
        deployments = deployments.filter(environment_id=environment_id)
    if status is not None:
        deployments = deployments.filter(status=status)
    deployments = list(deployments[:limit])
    summaries = deployment_summaries([deployment.pk for deployment in deployments], now=now)
    return [DeploymentSummary(deployment, summaries[deployment.pk]) for deployment in deployments]


def environment_secret_names(environment: Environment) -> list[str]:
    """The names of an environment's secrets, sorted: never their values."""
    return list(environment.secrets.order_by("name").values_list("name", flat=True))


# --- The dashboard: every service and environment with its latest deployment ------------------


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: Environment
    latest: Deployment | None
    progress: dict | None  # the latest deployment's, None without one


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    environments: list[EnvironmentStatus]


def readiness_board(*, actor, now: datetime | None = None) -> list[ServiceStatus]:
    """Every service `actor` may read (by name) with its environments, each with its latest deployment and that
    one's progress.

    Four queries however many services, environments, deployments and items there are.
    """
    latest = Deployment.objects.filter(environment=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    environments = list(
        Environment.objects.select_related("service")
        .filter(roles.readable_q(actor, "service__team"))
        .annotate(latest_id=Subquery(latest))
    )
    ids = [environment.latest_id for environment in environments if environment.latest_id]
    deployments = Deployment.objects.select_related("version__checklist").in_bulk(ids)
    summaries = deployment_summaries(ids, now=now)
    by_service: dict[int, list[EnvironmentStatus]] = {}
    for environment in environments:
        by_service.setdefault(environment.service_id, []).append(
            EnvironmentStatus(environment, deployments.get(environment.latest_id), summaries.get(environment.latest_id))
        )
    services = Service.objects.select_related("team").filter(roles.readable_q(actor, "team")).order_by("name")
    return [ServiceStatus(service, by_service.get(service.pk, [])) for service in services]


# --- History ---------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """A page of a deployment's events, newest first, as filtered, and what the filters can choose from."""

    page: "EventsPage"
    items: list[tuple[str, str]]  # (key, text) of every item of the deployment's checklist version
    people: list[str]  # who acted


def deployment_history(
    deployment: Deployment, *, item: str = "", person: str = "", kind: str = "",
    before: int | None = None, after: int | None = None,
) -> History:
    """One page of a deployment's events by keyset (`before`/`after` an event id), with the filters' choices.

    Four queries whatever the depth of the page or the number of events: the page (two), the
    version's items (as many as the checklist has, not as the history has), and the people who
    acted (read through the `(deployment_ref, actor_name)` index).
    """
    filters = {"item": item, "person": person, "kind": kind}
    return History(
        page=deployment_events_page(deployment_id=deployment.pk, filters=filters, before=before, after=after),
        items=list(Item.objects.filter(version_id=deployment.version_id).order_by("position").values_list("key", "text")),
        people=list(
            Event.objects.filter(deployment_ref=deployment.pk)
            .order_by("actor_name").values_list("actor_name", flat=True).distinct()
        ),
    )


def deployment_events_since(deployment_id: int, moment: datetime, *, limit: int = 20) -> list[Event]:
    """The deployment's events after `moment`, oldest first, at most `limit` (what changed since someone looked)."""
    return list(Event.objects.filter(deployment_ref=deployment_id, at__gt=moment).order_by("at", "id")[:limit])


def deployment_events(
    deployment_id: int, *, after: int | None = None, limit: int | None = None
) -> tuple[list[Event], int | None]:
    """A deployment's events, oldest first, and the cursor that reads on (None once there are no more).

    `after` (an event id, the cursor a previous call gave) starts just after that event; `limit` caps how
    many are read (every one without it). Read by keyset on the event's time and id, so the last batch
    of a long history costs what the first does. An event outlives what it describes, so a deleted
    deployment's events are still read; NotFound when there is neither; InvalidInput for a cursor that
    is not one of this deployment's events.
    """
    events = Event.objects.filter(deployment_ref=deployment_id).order_by("at", "id")
    if after is not None:
        cursor = Event.objects.filter(deployment_ref=deployment_id, pk=after).values_list("at", "pk").first()
        if cursor is None:
            raise InvalidInput(
                f"Event {after} is not in this deployment's history; give `after` the `next` of the previous answer."
            )
        at, pk = cursor
        events = events.filter(Q(at__gt=at) | Q(at=at, pk__gt=pk))
    if limit is None:
        rows, more = list(events), False
    else:
        rows = list(events[: limit + 1])
        rows, more = rows[:limit], len(rows) > limit
    if not rows and after is None and not Deployment.objects.filter(pk=deployment_id).exists():
        raise NotFound(f"There is no deployment {deployment_id}.")
    return rows, (rows[-1].pk if more else None)


@dataclass
class ItemChange:
    key: str
    before: dict
    after: dict
    fields: list[str]


@dataclass
class VersionDiff:
    before: object
    after: object
    added: list[dict]
    removed: list[dict]
    changed: list[ItemChange]

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)


DIFF_FIELDS = ("text", "section_path", "parent_key", "optional", "probe", "scope", "valid_for", "owner")


def version_diff(a, b) -> VersionDiff:
    """What changed from checklist version `a` to `b`, item by item (items match by key)."""
    def items_of(version) -> dict[str, dict]:
        rows = (
            Item.objects.filter(version=version)
            .order_by("position")
            .values("key", "text", "section_path", "optional", "probe", "scope", "valid_for", "owner", "parent__key")
        )
        found = {}
        for row in rows:
            row["parent_key"] = row.pop("parent__key") or ""
            row["valid_for"] = valid_text(row["valid_for"])
            found[row["key"]] = row
        return found

    before, after = items_of(a), items_of(b)
    changed = []
    for key, new in after.items():
        old = before.get(key)
        if old is None:
            continue
        fields = [name for name in DIFF_FIELDS if old[name] != new[name]]
        if fields:
            changed.append(ItemChange(key=key, before=old, after=new, fields=fields))
    return VersionDiff(
        before=a,
        after=b,
        added=[row for key, row in after.items() if key not in before],
        removed=[row for key, row in before.items() if key not in after],
        changed=changed,
    )


def version_tree(version) -> list[dict]:
    """A checklist version's sections, nested, each with its items (nested): three queries at most."""
    sections = list(Section.objects.filter(version=version).order_by("position"))
    items = list(Item.objects.filter(version=version).order_by("position"))
    section_nodes = {
        section.pk: {
            "title": section.title, "description": section.description, "optional": section.optional,
            "items": [], "sections": [],
        }
        for section in sections
    }
    roots = []
    for section in sections:
        siblings = section_nodes[section.parent_id]["sections"] if section.parent_id else roots
        siblings.append(section_nodes[section.pk])
    item_nodes = {}
    for item in items:
        node = {
            "key": item.key,
            "text": item.text,
            "optional": item.optional,
            "automated": item.automated,
            "probe": item.probe,
            "children": [],
        }
        item_nodes[item.pk] = node
        if item.parent_id:
            item_nodes[item.parent_id]["children"].append(node)
        else:
            section_nodes[item.section_id]["items"].append(node)
    return roots


# --- Across deployments: neighbours, comparison ------------------------------------------


@dataclass
class Relations:
    """Deployments a deployment page links to: what to compare it with, where to promote it."""

    previous: Deployment | None  # the one before it in the same environment
    same_release: list[Deployment]  # the same release in the service's other environments, newest first
    promote_to: list  # other environments of the service without a deployment of this release


#: Environments people promote through, in order; others follow by name.
PROMOTION_ORDER = ("dev", "development", "test", "qa", "staging", "preprod", "pre-production", "production", "prod")


def _promotion_rank(name: str) -> tuple:
    lowered = name.lower()
    return (PROMOTION_ORDER.index(lowered) if lowered in PROMOTION_ORDER else len(PROMOTION_ORDER), lowered)


def deployment_relations(deployment: Deployment) -> Relations:
    """The deployment's neighbours across environments and releases, in three queries."""
    environment = deployment.environment
    previous = (
        Deployment.objects.filter(environment_id=environment.pk)
        .filter(Q(created_at__lt=deployment.created_at) | Q(created_at=deployment.created_at, pk__lt=deployment.pk))
        .select_related("environment")
        .order_by("-created_at", "-id")
        .first()
    )
    others = list(
        Deployment.objects.filter(environment__service_id=environment.service_id, release=deployment.release)
        .exclude(environment_id=environment.pk)
        .select_related("environment")
        .order_by("-created_at", "-id")
    )
    siblings = sorted(
        Environment.objects.filter(service_id=environment.service_id).exclude(pk=environment.pk),
        key=lambda env: _promotion_rank(env.name),
    )
    deployed = {d.environment_id for d in others}
    here = _promotion_rank(environment.name)
    ahead = [env for env in siblings if env.pk not in deployed and _promotion_rank(env.name) > here]
    behind = [env for env in siblings if env.pk not in deployed and _promotion_rank(env.name) <= here]
    return Relations(previous=previous, same_release=others, promote_to=ahead + behind)


@dataclass
class ConditionPair:
    """One condition of an automated item, as each deployment's latest run saw it."""

    expr: str
    a: dict | None  # {"ok", "observed"}
    b: dict | None
    moved: bool


@dataclass
class Side:
    """One deployment's side of a compared item."""

    state: str
    by: str
    at: datetime | None
    note: str
    evidence_url: str
    stale: bool
    carried: CarriedRead | None
    run: RunRead | None
    waiver_expires_at: datetime | None = None

    @property
    def observed(self) -> list[dict] | None:
        if self.run is None:
            return None
        return [
            {"expr": str(c.get("expr", "")), "ok": bool(c.get("ok")), "observed": c.get("observed")}
            for c in self.run.conditions
            if isinstance(c, dict)
        ]

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "by": self.by or None,
            "at": self.at,
            "note": self.note,
            "evidence_url": self.evidence_url,
            "stale": self.stale,
            "carried_from": self.carried.as_dict() if self.carried else None,
            "waiver_expires_at": self.waiver_expires_at,
            "observed": self.observed,
        }


@dataclass
class ComparedItem:
    key: str
    text: str
    section_path: list
    automated: bool
    change: str  # same, changed, added (only in b), removed (only in a)
    a: Side | None
    b: Side | None
    moved: list[str]  # which of state, note, evidence_url, stale, text, probe, observed differ
    conditions: list[ConditionPair]


@dataclass
class Comparison:
    a: Deployment
    b: Deployment
    progress_a: dict
    progress_b: dict
    items: list[ComparedItem]

    @property
    def summary(self) -> dict:
        counts = {"same": 0, "changed": 0, "added": 0, "removed": 0}
        for item in self.items:
            counts[item.change] += 1
        return counts


def _side(row: ItemRow) -> Side:
    state = row.state
    return Side(
        state=state.state, by=state.updated_by_name, at=state.updated_at, note=state.note,
        evidence_url=state.evidence_url, stale=row.stale, carried=state.carried, run=row.run,
        waiver_expires_at=state.waiver_expires_at if state.state == State.WAIVED else None,
    )


def _condition_pairs(a: Side | None, b: Side | None) -> list[ConditionPair]:
    def by_expr(side):
        return {c["expr"]: {"ok": c["ok"], "observed": c["observed"]} for c in (side.observed or [])} if side else {}

    before, after = by_expr(a), by_expr(b)
    exprs = list(before) + [expr for expr in after if expr not in before]
    return [
        ConditionPair(expr=expr, a=before.get(expr), b=after.get(expr), moved=before.get(expr) != after.get(expr))
        for expr in exprs
    ]


def _moved(a: Side, b: Side, text_a: str, text_b: str, pairs: list[ConditionPair]) -> list[str]:
    moved = [name for name in ("state", "note", "evidence_url", "stale") if getattr(a, name) != getattr(b, name)]
    if text_a != text_b:
        moved.append("text")
    if (a.run.status if a.run else None) != (b.run.status if b.run else None):
        moved.append("probe")
    if any(pair.moved for pair in pairs):
        moved.append("observed")
    return moved


def deployment_compare(a: Deployment, b: Deployment) -> Comparison:
    """Two deployments item by item (items match by key), in two queries.

    `b`'s order, with the items only `a` has placed after the item they followed in `a`.
    """
    rows_a, rows_b = item_rows(a), item_rows(b)
    by_key_a = {row.item.key: row for row in rows_a}
    keys_b = {row.item.key for row in rows_b}
    removed_after: dict[str | None, list[ItemRow]] = {}
    anchor = None
    for row in rows_a:
        if row.item.key in keys_b:
            anchor = row.item.key
        else:
            removed_after.setdefault(anchor, []).append(row)
    ordered: list[tuple[ItemRow | None, ItemRow | None]] = [(row, None) for row in removed_after.get(None, [])]
    for row in rows_b:
        ordered.append((by_key_a.get(row.item.key), row))
        ordered.extend((gone, None) for gone in removed_after.get(row.item.key, []))
    items = []
    for row_a, row_b in ordered:
        side_a = _side(row_a) if row_a else None
        side_b = _side(row_b) if row_b else None
        pairs = _condition_pairs(side_a, side_b)
        shown = row_b or row_a
        if row_a is None:
            change, moved = "added", []
        elif row_b is None:
            change, moved = "removed", []
        else:
            moved = _moved(side_a, side_b, row_a.item.text, row_b.item.text, pairs)
            change = "changed" if moved else "same"
        items.append(ComparedItem(
            key=shown.item.key, text=shown.item.text, section_path=shown.item.section_path,
            automated=shown.item.probe is not None, change=change, a=side_a, b=side_b, moved=moved,
            conditions=pairs,
        ))
    return Comparison(a=a, b=b, progress_a=progress_of(rows_a), progress_b=progress_of(rows_b), items=items)


# --- The report ----------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(dt_timezone.utc).isoformat() if moment else None


def deployment_report(deployment: Deployment) -> dict:
    """The record of a deployment for an auditor or a change board, as plain JSON-ready data.

    Every format of the report (`checklists.reports`) is made from this and shows nothing else:
    names, states, notes, evidence links, probe conditions and the values they observed (redacted
    by the probes before they were stored) — never an environment's variables, secrets or addresses.
    For a signed-off deployment it is what its signers saw, so it reads the same every time.
    """
    deployment = (
        Deployment.objects.select_related("environment__service", "version__checklist", "created_by")
        .get(pk=deployment.pk)
    )
    moment = snapshot_moment(deployment)
    snapshot = deployment_snapshot(deployment, now=moment)
    key_of = {row.item.pk: row.item.key for row in snapshot.rows}
    version = deployment.version
    items = [_report_item(row, key_of.get(row.item.parent_id)) for row in snapshot.rows]
    return {
        "deployment": {
            "id": deployment.pk,
            "service": deployment.environment.service.name,
            "environment": deployment.environment.name,
            "release": deployment.release,
            "status": deployment.status,
            "checklist": version.checklist.slug,
            "checklist_name": version.checklist.name,
            "version": version.number,
            "checklist_sha256": version.sha256,
            "created_at": _iso(deployment.created_at),
            "created_by": deployment.created_by.get_username() if deployment.created_by else None,
            "signed_off_at": _iso(deployment.signed_off_at),
            "as_of": _iso(moment),
            "digest": snapshot.digest,
            "progress": snapshot.progress,
            "required_roles": snapshot.required_roles,
            "missing_roles": snapshot.missing_roles,
        },
        "signoffs": [
            {"role": s.role, "user": s.username, "at": _iso(s.at), "comment": s.comment, "digest": s.digest}
            for s in snapshot.signoffs
        ],
        "items": items,
        "waivers": [
            {"key": item["key"], "text": item["text"], "reason": item["waiver"]["reason"], "by": item["waiver"]["by"],
             "at": item["waiver"]["at"], "expires_at": item["waiver"]["expires_at"],
             "approved_by": item["waiver"]["approved_by"], "proposed": item["waiver"]["proposed"]}
            for item in items
            if item["state"] == State.WAIVED and item["waiver"]
        ],
    }


def _report_item(row: ItemRow, parent_key: str | None) -> dict:
    state, item, run = row.state, row.item, row.run
    probe = None
    if item.probe is not None:
        probe = {"type": item.probe.get("type", ""), "status": None, "finished_at": None, "duration_ms": None,
                 "message": "", "conditions": [{"expr": expr, "ok": None, "observed": None} for expr in item.probe.get("expect", [])]}
        if run is not None:
            probe.update(
                status=run.status,
                finished_at=_iso(run.finished_at),
                duration_ms=run.duration_ms,
                message=run.message,
                conditions=[
                    {"expr": str(c.get("expr", "")), "ok": bool(c.get("ok")), "observed": c.get("observed")}
                    for c in run.conditions
                    if isinstance(c, dict)
                ],
            )
    return {
        "key": item.key,
        "text": item.text,
        "section": list(item.section_path),
        "parent": parent_key,
        "optional": item.optional,
        "automated": item.probe is not None,
        "scope": item.scope,
        "valid": valid_text(item.valid_for),
        "state": state.state,
        "by": state.updated_by_name or None,
        "at": _iso(state.updated_at),
        "note": state.note,
        "waiver": (
            {
                "reason": state.waiver_reason, "by": state.waived_by_name or None, "at": _iso(state.waived_at),
                "expires_at": _iso(state.waiver_expires_at), "expired": row.lapsed and not state.waiver_proposed,
                "proposed": state.waiver_proposed, "approved_by": state.waiver_approved_by_name or None,
            }
            if state.waiver_reason else None
        ),
        "evidence_url": state.evidence_url,
        "stale": row.stale,
        "blocking": row.blocking,
        "carried_from": state.carried.as_dict() if state.carried else None,
        "probe": probe,
    }


# --- The service page: trends over its deployments -------------------------------------------

#: How many of a service's deployments its trends look back over.
TRENDS_DEPLOYMENTS = 50
TRENDS_TOP = 10


@dataclass
class ItemTrend:
    key: str
    text: str
    count: int  # deployments it failed in, or times a passing probe failed again
    other: int = 0  # for flaky probes: times a failing probe passed again


@dataclass
class ServiceTrends:
    service: object
    environments: list
    deployments: list  # newest first, each with `.summary` and `.hours_to_signoff` (None while open)
    blockers: list[ItemTrend]
    flaky: list[ItemTrend]
    waivers: list  # ItemStates waived in each environment's latest deployment, with item and deployment


def service_trends(service) -> ServiceTrends:
    """A service across its latest deployments, in a fixed number of queries whatever their number.

    - time from opened to signed off, per deployment;
    - the items that block most often: in how many deployments each item failed at least once;
    - flaky probes: how often a passing probe failed again (and a failing one passed again);
    - waivers in force: the waived items of each environment's latest deployment.
    """
    environments = list(Environment.objects.filter(service=service).order_by("position", "name"))
    deployments = list(
        Deployment.objects.filter(environment__service=service)
        .select_related("environment", "version__checklist")
        .order_by("-created_at", "-id")[:TRENDS_DEPLOYMENTS]
    )
    ids = [deployment.pk for deployment in deployments]
    summaries = deployment_summaries(ids)
    for deployment in deployments:
        deployment.summary = summaries.get(deployment.pk)
        deployment.hours_to_signoff = (
            (deployment.signed_off_at - deployment.created_at).total_seconds() / 3600
            if deployment.signed_off_at else None
        )
    events = Event.objects.filter(deployment_ref__in=ids).exclude(item_key="")
    blockers = [
        ItemTrend(key=row["item_key"], text=row["text"], count=row["deployments"])
        for row in events.filter(after=State.FAILED, kind__in=[Event.Kind.STATE, Event.Kind.PROBE_RESULT])
        .values("item_key")
        .annotate(deployments=Count("deployment_ref", distinct=True), text=Max("item_text"))
        .order_by("-deployments", "item_key")[:TRENDS_TOP]
    ]
    flaky = [
        ItemTrend(key=row["item_key"], text=row["text"], count=row["relapses"], other=row["recoveries"])
        for row in events.filter(kind=Event.Kind.PROBE_RESULT)
        .values("item_key")
        .annotate(
            relapses=Count("id", filter=Q(before=State.PASSED, after=State.FAILED)),
            recoveries=Count("id", filter=Q(before=State.FAILED, after=State.PASSED)),
            text=Max("item_text"),
        )
        .filter(relapses__gt=0)
        .order_by("-relapses", "-recoveries", "item_key")[:TRENDS_TOP]
    ]
    latest = Deployment.objects.filter(environment=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    waivers = list(
        ItemState.objects.filter(
            deployment_id__in=Subquery(
                Environment.objects.filter(service=service).annotate(latest=Subquery(latest)).values("latest")
            ),
            state=State.WAIVED,
        )
        .select_related("item", "deployment__environment")
        .order_by("deployment__environment__name", "item__position")
    )
    return ServiceTrends(
        service=service, environments=environments, deployments=deployments, blockers=blockers, flaky=flaky,
        waivers=waivers,
    )


# --- A deployment's history, page by page -------------------------------------------

EVENTS_PER_PAGE = 50
#: History filters (as the page's form names them) → Event fields.
EVENT_FILTERS = {"item": "item_key", "person": "actor_name", "kind": "kind"}


@dataclass
class EventsPage:
    """One page of a deployment's events, newest first.

    `older` and `newer` are the cursors of the neighbouring pages (pass them back as `before` and
    `after`), None at either end of the history.
    """

    events: list[Event]
    older: int | None
    newer: int | None


def deployment_events_page(
    *,
    deployment_id: int,
    filters: dict | None = None,
    before: int | None = None,
    after: int | None = None,
    per_page: int = EVENTS_PER_PAGE,
) -> EventsPage:
    """A page of the deployment's events (newest first) by keyset, in two queries whatever its depth.

    `before` (an event id) gives the page of events older than that event, `after` the page newer
    than it; neither gives the newest page, as does a cursor that is not one of this deployment's
    events.  `filters` takes `item`, `person` and `kind` (empty values are ignored).  Unlike an
    OFFSET, a cursor reads only the rows of its own page, so the thousandth page costs what the first does.
    """
    events = Event.objects.filter(deployment_ref=deployment_id)
    for name, value in (filters or {}).items():
        if value:
            events = events.filter(**{EVENT_FILTERS[name]: value})
    cursor = None
    if before or after:
        cursor = Event.objects.filter(deployment_ref=deployment_id, pk=before or after).values_list("at", "pk").first()
    if cursor is None:
        rows = list(events.order_by("-at", "-id")[: per_page + 1])
        page = rows[:per_page]
        return EventsPage(events=page, older=page[-1].pk if len(rows) > per_page else None, newer=None)
    at, pk = cursor
    if before:
        rows = list(events.filter(at__lte=at).exclude(at=at, pk__gte=pk).order_by("-at", "-id")[: per_page + 1])
        page = rows[:per_page]
        return EventsPage(
            events=page, older=page[-1].pk if len(rows) > per_page else None, newer=page[0].pk if page else None
        )
    rows = list(events.filter(at__gte=at).exclude(at=at, pk__lte=pk).order_by("at", "id")[: per_page + 1])
    page = rows[:per_page][::-1]
    return EventsPage(
        events=page, older=page[-1].pk if page else None, newer=page[0].pk if len(rows) > per_page else None
    )


# --- Teams ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamView:
    """A team as its pages and the API show it: its services (those the reader may see) and its members."""

    team: Team
    services: list[Service]
    members: list[Membership]
    readable: bool  # may the reader see the team's services and their deployments?


def teams_overview(actor, *, slug: str | None = None) -> list[TeamView]:
    """Every team (or the one at `slug`) by name, with its members and roles and the services `actor` may read.

    Teams and their members are a directory every signed-in person may read (whom to ask); a team's
    services are listed only to those who may read them. Three queries however many teams there are.
    """
    teams = Team.objects.order_by("name").prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.select_related("user").order_by("user__username"))
    )
    if slug is not None:
        teams = teams.filter(slug=slug)
    teams = list(teams)
    readable = roles.readable_teams(actor)
    visible = [team.pk for team in teams if readable is roles.ALL or team.pk in readable]
    services: dict[int, list[Service]] = {}
    for service in Service.objects.filter(team_id__in=visible).order_by("name"):
        services.setdefault(service.team_id, []).append(service)
    return [
        TeamView(team, services.get(team.pk, []), list(team.memberships.all()), team.pk in visible)
        for team in teams
    ]


def team_view(actor, slug: str) -> TeamView:
    found = teams_overview(actor, slug=slug)
    if not found:
        raise NotFound(f"There is no team `{excerpt(slug)}`; see /teams/ for every team.")
    return found[0]


def team_events(team: Team, *, limit: int = 20) -> list[Event]:
    """The latest changes to a team and its members, newest first."""
    return list(
        Event.objects.filter(kind__in=[Event.Kind.TEAM, Event.Kind.MEMBERSHIP])
        .filter(Q(data__team=team.slug) | Q(data__from=team.slug))
        .order_by("-at", "-id")[:limit]
    )
