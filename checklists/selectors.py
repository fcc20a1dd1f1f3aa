"""Reads: what deployments, their items, their history and checklist versions look like, in a fixed number of queries."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from checklists.models import Deployment, Environment, Item, ItemState, Section, Service, SignOff
from core.errors import NotFound
from core.models import Event

State = ItemState.State
DONE = frozenset({State.PASSED, State.WAIVED, State.NA})


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

    @property
    def automated(self) -> bool:
        return self.probe is not None


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
    latest_run_id: int | None
    item: ItemRead
    latest_run: RunRead | None


_STATE_FIELDS = ("id", "state", "note", "evidence_url", "updated_by_name", "updated_at", "last_passed_at", "run_state")
_ITEM_FIELDS = ("item__id", "item__key", "item__text", "item__optional", "item__probe", "item__parent_id",
                "item__section_id", "item__section_path", "item__has_children")
_RUN_FIELDS = ("latest_run_id", "result")


@dataclass
class ItemRow:
    state: ItemState | StateRead
    stale: bool
    blocking: bool
    depth: int
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


def freshness_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES)


def is_stale(*, automated: bool, state: str, last_passed_at: datetime | None, cutoff: datetime) -> bool:
    """A passing probe result older than the freshness window no longer counts."""
    return automated and state == State.PASSED and (last_passed_at is None or last_passed_at < cutoff)


def is_blocking(*, optional: bool, state: str, stale: bool) -> bool:
    """An item blocks sign-off while it is required and not done, or done by a stale result."""
    return not optional and (state not in DONE or stale)


# The same two rules for the database, where counts are taken without reading every row (ItemState rows).


def stale_q(cutoff: datetime) -> Q:
    return Q(item__probe__isnull=False, state=State.PASSED) & (
        Q(last_passed_at__isnull=True) | Q(last_passed_at__lt=cutoff)
    )


def blocking_q(cutoff: datetime) -> Q:
    return Q(item__optional=False) & (~Q(state__in=DONE) | stale_q(cutoff))


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


def _rows_of(values, cutoff: datetime) -> list[ItemRow]:
    item_at, run_at = len(_STATE_FIELDS), len(_STATE_FIELDS) + len(_ITEM_FIELDS)
    states = []
    for value in values:
        item = ItemRead(*value[item_at:run_at])
        run_id, result = value[run_at:]
        states.append(StateRead(*value[:item_at], latest_run_id=run_id, item=item, latest_run=RunRead.of(result)))
    depth_of = outline_depths((state.item.pk, state.item.parent_id) for state in states)
    return [item_row(state, cutoff=cutoff, depth=depth_of[state.item.pk]) for state in states]


def item_rows(deployment: Deployment, *, now: datetime | None = None, automated: bool = False) -> list[ItemRow]:
    """Every item of the deployment in document order (or only its automated ones), in one query."""
    states = _states(deployment)
    if automated:
        states = states.filter(item__probe__isnull=False)
    return _rows_of(states.values_list(*_STATE_FIELDS, *_ITEM_FIELDS, *_RUN_FIELDS), freshness_cutoff(now))


def item_rows_with_parents(deployment: Deployment, keys: Iterable[str], *, now: datetime | None = None) -> list[ItemRow]:
    """The rows of `keys` and of every item above them, in document order, in one query whatever the size.

    A parent follows its children, so it changes with them. Parents are in their children's section and
    have children: only those rows are read besides the ones asked for, never the whole deployment.
    """
    keys = list(keys)
    items = Item.objects.filter(version_id=deployment.version_id)
    sections = items.filter(key__in=keys).values("section_id")
    wanted_items = items.filter(Q(key__in=keys) | Q(has_children=True, section_id__in=sections)).values("id")
    values = _states(deployment).filter(item_id__in=wanted_items).values_list(*_STATE_FIELDS, *_ITEM_FIELDS, *_RUN_FIELDS)
    rows = _rows_of(values, freshness_cutoff(now))
    by_pk = {row.item.pk: row for row in rows}
    wanted: set[int] = set()
    for row in rows:
        if row.item.key in keys:
            while row is not None and row.item.pk not in wanted:
                wanted.add(row.item.pk)
                row = by_pk.get(row.item.parent_id)
    return [row for row in rows if row.item.pk in wanted]


def item_row(item_state: ItemState | StateRead, *, cutoff: datetime | None = None, depth: int = 0) -> ItemRow:
    """One item's row (stale, blocking) from its state with `item` and `latest_run` loaded."""
    cutoff = cutoff or freshness_cutoff()
    item = item_state.item
    stale = is_stale(
        automated=item.probe is not None, state=item_state.state, last_passed_at=item_state.last_passed_at, cutoff=cutoff
    )
    blocking = is_blocking(optional=item.optional, state=item_state.state, stale=stale)
    return ItemRow(state=item_state, stale=stale, blocking=blocking, depth=depth)


class _Digest:
    """What a signer saw, line by line: each item's key, state, note, evidence link, latest run and staleness."""

    def __init__(self, deployment: Deployment):
        self.hasher = hashlib.sha256(f"{deployment.pk}:{deployment.status}\n".encode())

    def add(self, key: str, state: str, note: str, evidence_url: str, latest_run_id: int | None, stale: bool) -> None:
        self.hasher.update(f"{key}\0{state}\0{note}\0{evidence_url}\0{latest_run_id or ''}\0{stale}\n".encode())

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()


def digest_of(deployment: Deployment, rows: list[ItemRow]) -> str:
    """What a signer saw: every item's state, note, evidence and latest run, and the deployment's status."""
    digest = _Digest(deployment)
    for row in rows:
        state = row.state
        digest.add(row.item.key, state.state, state.note, state.evidence_url, state.latest_run_id, row.stale)
    return digest.hexdigest()


class _Progress:
    """Counts per state, of items that block and of stale ones, and `done` (passed, waived or n/a)."""

    def __init__(self):
        self.counts = {"total": 0, "passed": 0, "failed": 0, "pending": 0, "waived": 0, "na": 0, "blocking": 0, "stale": 0}

    def add(self, state: str, blocking: bool, stale: bool) -> None:
        counts = self.counts
        counts["total"] += 1
        counts[state] += 1
        counts["blocking"] += blocking
        counts["stale"] += stale

    def result(self) -> dict:
        return {**self.counts, "done": self.counts["passed"] + self.counts["waived"] + self.counts["na"]}


def progress_of(rows: list[ItemRow]) -> dict:
    progress = _Progress()
    for row in rows:
        progress.add(row.state.state, row.blocking, row.stale)
    return progress.result()


def deployment_snapshot(deployment: Deployment, *, now: datetime | None = None) -> Snapshot:
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
    depth: int
    items: list[OutlineItem] = field(default_factory=list)


def version_outline(version_id: int, *, items: bool = False) -> list[OutlineSection]:
    """A checklist version's sections in document order with their depth; with `items`, each with its items.

    One query for the sections, one more for the items.
    """
    values = list(
        Section.objects.filter(version_id=version_id).order_by("position").values_list("id", "parent_id", "title", "optional")
    )
    depth_of = outline_depths((pk, parent_id) for pk, parent_id, _, _ in values)
    sections = {pk: OutlineSection(pk, parent_id, title, optional, depth_of[pk]) for pk, parent_id, title, optional in values}
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


def deployment_overview(deployment: Deployment, *, now: datetime | None = None, blocking_kept: int = 25) -> Overview:
    """The deployment's overview in five queries whose answers do not grow with its items.

    The database counts (overall and by section) and picks the first `blocking_kept` items that block;
    no item is read into Python, so an answer that shows the panels never pays for the whole page.
    """
    cutoff = freshness_cutoff(now)
    sections = [
        SectionProgress(section.pk, section.parent_id, section.title, section.optional, section.depth)
        for section in version_outline(deployment.version_id)
    ]
    by_pk = {section.pk: section for section in sections}
    progress = dict.fromkeys(("total", "blocking", "stale", "in_flight", *State.values), 0)
    for row in _counts(ItemState.objects.filter(deployment=deployment), "item__section_id", cutoff):
        section = by_pk[row["item__section_id"]]
        section.total, section.failed, section.blocking = row["total"], row["failed"], row["blocking"]
        section.done = row["passed"] + row["waived"] + row["na"]
        for key in progress:
            progress[key] += row[key]
    progress["done"] = progress["passed"] + progress["waived"] + progress["na"]
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
        .filter(blocking_q(cutoff), item__version_id=deployment.version_id)  # lets the item order's index stop early
        .annotate(stale=ExpressionWrapper(stale_q(cutoff), output_field=BooleanField()))
        .values_list("item__key", "item__text", "state", "stale")[:blocking_kept]
    ]
    return Overview(
        deployment=deployment, progress=progress, sections=sections, blocking=blocking, signoffs=_signoffs(deployment)
    )


def _counts(states, by: str, cutoff: datetime):
    """Item states counted per `by`: per state, and how many block, are stale, or have a run in flight."""
    return (
        states.values(by)
        .annotate(
            total=Count("id"),
            blocking=Count("id", filter=blocking_q(cutoff)),
            stale=Count("id", filter=stale_q(cutoff)),
            in_flight=Count("id", filter=~Q(run_state="")),
            **{state: Count("id", filter=Q(state=state)) for state in State.values},
        )
        .order_by()
    )


def deployment_digest(deployment: Deployment, *, now: datetime | None = None) -> str:
    """The digest a signer signs (`digest_of` the deployment's rows), from one narrow read of every item."""
    cutoff = freshness_cutoff(now)
    digest = _Digest(deployment)
    values = (
        _states(deployment)
        .annotate(automated=ExpressionWrapper(Q(item__probe__isnull=False), output_field=BooleanField()))
        .values_list("item__key", "state", "note", "evidence_url", "latest_run_id", "automated", "last_passed_at")
    )
    for key, state, note, evidence_url, run_id, automated, last_passed_at in values:
        stale = is_stale(automated=automated, state=state, last_passed_at=last_passed_at, cutoff=cutoff)
        digest.add(key, state, note, evidence_url, run_id, stale)
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
    for row in _counts(ItemState.objects.filter(deployment_id__in=ids), "deployment_id", freshness_cutoff(now)):
        summary = {key: row[key] for key in ("total", "blocking", "stale", "in_flight", *State.values)}
        summary["done"] = summary["passed"] + summary["waived"] + summary["na"]
        summaries[row["deployment_id"]] = summary
    return summaries


EMPTY_PROGRESS = {
    "total": 0, "blocking": 0, "stale": 0, "in_flight": 0, **dict.fromkeys(State.values, 0), "done": 0
}


@dataclass(frozen=True)
class DeploymentSummary:
    """A deployment with its progress, as lists show it."""

    deployment: Deployment
    progress: dict


def deployment_list(
    *, environment_id: int | None = None, status: str | None = None, limit: int = 100, now: datetime | None = None
) -> list[DeploymentSummary]:
    """Deployments, newest first, each with its progress: two queries whatever their number or size."""
    deployments = Deployment.objects.select_related("version__checklist", "created_by").order_by("-created_at", "-id")
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


def readiness_board(*, now: datetime | None = None) -> list[ServiceStatus]:
    """Every service (by name) with its environments, each with its latest deployment and that one's progress.

    Four queries however many services, environments, deployments and items there are.
    """
    latest = Deployment.objects.filter(environment=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    environments = list(Environment.objects.select_related("service").annotate(latest_id=Subquery(latest)))
    ids = [environment.latest_id for environment in environments if environment.latest_id]
    deployments = Deployment.objects.select_related("version__checklist").in_bulk(ids)
    summaries = deployment_summaries(ids, now=now)
    by_service: dict[int, list[EnvironmentStatus]] = {}
    for environment in environments:
        by_service.setdefault(environment.service_id, []).append(
            EnvironmentStatus(environment, deployments.get(environment.latest_id), summaries.get(environment.latest_id))
        )
    return [ServiceStatus(service, by_service.get(service.pk, [])) for service in Service.objects.order_by("name")]


# --- History ---------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """A deployment's events, newest first, as filtered, and what the filters can choose from."""

    events: QuerySet  # of Event, for a paginator to slice
    items: list[str]  # the keys of the items that have events
    people: list[str]  # who acted


def deployment_history(deployment_id: int, *, item: str = "", person: str = "", kind: str = "") -> History:
    """Events of a deployment, newest first, filtered by item key, person and kind (empty: any).

    Three queries, one of them a page's slice: none grows with the number of events read into Python.
    """
    events = Event.objects.filter(deployment_ref=deployment_id)
    filtered = events
    if item:
        filtered = filtered.filter(item_key=item)
    if person:
        filtered = filtered.filter(actor_name=person)
    if kind:
        filtered = filtered.filter(kind=kind)
    return History(
        events=filtered.order_by("-at", "-id"),
        items=list(events.exclude(item_key="").order_by("item_key").values_list("item_key", flat=True).distinct()),
        people=list(events.order_by("actor_name").values_list("actor_name", flat=True).distinct()),
    )


def deployment_events(deployment_id: int) -> list[Event]:
    """Every event of a deployment, oldest first (an event outlives what it describes, so a deleted
    deployment's events are still read); NotFound when there is neither."""
    events = list(Event.objects.filter(deployment_ref=deployment_id).order_by("at", "id"))
    if not events and not Deployment.objects.filter(pk=deployment_id).exists():
        raise NotFound(f"There is no deployment {deployment_id}.")
    return events


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


DIFF_FIELDS = ("text", "section_path", "parent_key", "optional", "probe")


def version_diff(a, b) -> VersionDiff:
    """What changed from checklist version `a` to `b`, item by item (items match by key)."""
    def items_of(version) -> dict[str, dict]:
        rows = (
            Item.objects.filter(version=version)
            .order_by("position")
            .values("key", "text", "section_path", "optional", "probe", "parent__key")
        )
        found = {}
        for row in rows:
            row["parent_key"] = row.pop("parent__key") or ""
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
        section.pk: {"title": section.title, "optional": section.optional, "items": [], "sections": []}
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
