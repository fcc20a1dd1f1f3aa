"""Reads: what a deployment looks like right now, in a fixed number of queries."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from checklists.models import Deployment, Item, ItemState, Section, SignOff

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
                "item__section_id", "item__section_path")
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
        return self.deployment.version.required_roles or ["lead"]

    @property
    def missing_roles(self) -> list[str]:
        signed = {signoff.role for signoff in self.signoffs}
        return [role for role in self.required_roles if role not in signed]

    @property
    def stale_count(self) -> int:
        return sum(1 for row in self.rows if row.stale)

    @property
    def running(self) -> bool:
        return any(row.state.run_state for row in self.rows)


def freshness_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES)


def item_rows(deployment: Deployment, *, now: datetime | None = None) -> list[ItemRow]:
    """Every item of the deployment in document order, with its state and latest run, in one query."""
    values = (
        ItemState.objects.filter(deployment=deployment)
        .order_by("item__position")
        .values_list(*_STATE_FIELDS, *_ITEM_FIELDS, *_RUN_FIELDS)
    )
    item_at, run_at = len(_STATE_FIELDS), len(_STATE_FIELDS) + len(_ITEM_FIELDS)
    cutoff = freshness_cutoff(now)
    depth_of: dict[int, int] = {}
    rows = []
    for value in values:
        item = ItemRead(*value[item_at:run_at])
        run_id, result = value[run_at:]
        state = StateRead(*value[:item_at], latest_run_id=run_id, item=item, latest_run=RunRead.of(result))
        depth = depth_of[item.parent_id] + 1 if item.parent_id in depth_of else 0
        depth_of[item.pk] = depth
        rows.append(item_row(state, cutoff=cutoff, depth=depth))
    return rows


def item_row(item_state: ItemState | StateRead, *, cutoff: datetime | None = None, depth: int = 0) -> ItemRow:
    """One item's row (stale, blocking) from its state with `item` and `latest_run` loaded."""
    cutoff = cutoff or freshness_cutoff()
    item = item_state.item
    stale = (
        item.probe is not None
        and item_state.state == State.PASSED
        and (item_state.last_passed_at is None or item_state.last_passed_at < cutoff)
    )
    blocking = not item.optional and (item_state.state not in DONE or stale)
    return ItemRow(state=item_state, stale=stale, blocking=blocking, depth=depth)


def digest_of(deployment: Deployment, rows: list[ItemRow]) -> str:
    """What a signer saw: every item's state, note, evidence and latest run, and the deployment's status."""
    hasher = hashlib.sha256(f"{deployment.pk}:{deployment.status}\n".encode())
    for row in rows:
        state = row.state
        hasher.update(
            f"{row.item.key}\0{state.state}\0{state.note}\0{state.evidence_url}\0{state.latest_run_id or ''}"
            f"\0{row.stale}\n".encode()
        )
    return hasher.hexdigest()


def progress_of(rows: list[ItemRow]) -> dict:
    progress = {"total": len(rows), "passed": 0, "failed": 0, "pending": 0, "waived": 0, "na": 0, "blocking": 0}
    for row in rows:
        progress[row.state.state] += 1
        progress["blocking"] += row.blocking
    return progress


def deployment_snapshot(deployment: Deployment, *, now: datetime | None = None) -> Snapshot:
    rows = item_rows(deployment, now=now)
    signoffs = list(deployment.signoffs.filter(voided_at__isnull=True).order_by("at"))
    return Snapshot(
        deployment=deployment,
        rows=rows,
        signoffs=signoffs,
        digest=digest_of(deployment, rows),
        progress=progress_of(rows),
        blocking=[row for row in rows if row.blocking],
    )


# --- Summaries and comparisons (read-only) -----------------------------------


def deployment_summaries(deployment_ids, *, now: datetime | None = None) -> dict[int, dict]:
    """Progress of many deployments in one aggregate query: {deployment id: counts}.

    The same numbers as `progress_of(item_rows(...))` plus `stale` and `done`, computed by the
    database, so a dashboard does not load every item of every deployment.
    """
    ids = list(deployment_ids)
    if not ids:
        return {}
    stale = Q(item__probe__isnull=False, state=State.PASSED) & (
        Q(last_passed_at__isnull=True) | Q(last_passed_at__lt=freshness_cutoff(now))
    )
    blocking = Q(item__optional=False) & (~Q(state__in=DONE) | stale)
    counts = {state: Count("id", filter=Q(state=state)) for state in State.values}
    rows = (
        ItemState.objects.filter(deployment_id__in=ids)
        .values("deployment_id")
        .annotate(
            total=Count("id"),
            blocking=Count("id", filter=blocking),
            stale=Count("id", filter=stale),
            **counts,
        )
        .order_by()
    )
    summaries = {}
    for row in rows:
        summary = {key: row[key] for key in ("total", "blocking", "stale", *State.values)}
        summary["done"] = summary["passed"] + summary["waived"] + summary["na"]
        summaries[row["deployment_id"]] = summary
    return summaries


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


def runs_in_flight(deployment: Deployment) -> dict[int, str]:
    """{item id: "queued" | "running"} for the deployment's items whose probe runs now, in one query."""
    return dict(
        ItemState.objects.filter(deployment=deployment).exclude(run_state="").values_list("item_id", "run_state")
    )
