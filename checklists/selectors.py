"""Reads: what a deployment looks like right now, in a fixed number of queries."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import Case, Count, DateTimeField, ExpressionWrapper, F, Max, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from checklists.models import Deployment, Environment, Item, ItemState, Section, SignOff
from checklists.parsing import duration_text
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
    latest_run_id: int | None
    item: ItemRead
    latest_run: RunRead | None
    carried: CarriedRead | None = None


_STATE_FIELDS = (
    "id", "state", "note", "evidence_url", "updated_by_name", "updated_at", "last_passed_at", "run_state",
    "waiver_reason", "waived_by_name", "waived_at",
)
_ITEM_FIELDS = ("item__id", "item__key", "item__text", "item__optional", "item__probe", "item__parent_id",
                "item__section_id", "item__section_path", "item__scope", "item__valid_for")
_RUN_FIELDS = ("latest_run_id", "result")
_CARRIED_FIELDS = ("carried_from_id", "carried_from__release", "carried_from__environment__name")


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


def item_rows(deployment: Deployment, *, now: datetime | None = None) -> list[ItemRow]:
    """Every item of the deployment in document order, with its state, latest run and origin, in one query."""
    values = (
        ItemState.objects.filter(deployment=deployment)
        .order_by("item__position")
        .values_list(*_STATE_FIELDS, *_ITEM_FIELDS, *_RUN_FIELDS, *_CARRIED_FIELDS)
    )
    item_at, run_at = len(_STATE_FIELDS), len(_STATE_FIELDS) + len(_ITEM_FIELDS)
    carried_at = run_at + len(_RUN_FIELDS)
    now = snapshot_moment(deployment, now)
    cutoff = freshness_cutoff(now)
    depth_of: dict[int, int] = {}
    rows = []
    for value in values:
        item = ItemRead(*value[item_at:run_at])
        run_id, result = value[run_at:carried_at]
        carried = CarriedRead(*value[carried_at:]) if value[carried_at] is not None else None
        state = StateRead(
            *value[:item_at], latest_run_id=run_id, item=item, latest_run=RunRead.of(result), carried=carried
        )
        depth = depth_of[item.parent_id] + 1 if item.parent_id in depth_of else 0
        depth_of[item.pk] = depth
        rows.append(item_row(state, cutoff=cutoff, now=now, depth=depth))
    return rows


def is_stale(item, item_state, *, cutoff: datetime, now: datetime) -> bool:
    """The freshness rule, for probe results and attestations alike — the one place it is written.

    A passing probe result goes stale once it is older than the result window (`cutoff`), unless it
    was carried over from the release's earlier deployment (`scope: release`: it is the release's
    evidence, not this environment's, until a run here replaces it). A manual item with `valid:` goes
    stale once its attestation is older than that.
    """
    if item_state.state != State.PASSED:
        return False
    if item.probe is not None:
        if _carried_from_id(item_state) is not None:
            return False
        return item_state.last_passed_at is None or item_state.last_passed_at < cutoff
    if item.valid_for is not None:
        return item_state.updated_at is None or item_state.updated_at < now - item.valid_for
    return False


def _carried_from_id(item_state) -> int | None:
    if isinstance(item_state, StateRead):
        return item_state.carried.deployment_id if item_state.carried else None
    return item_state.carried_from_id


def item_row(
    item_state: ItemState | StateRead, *, cutoff: datetime | None = None, now: datetime | None = None, depth: int = 0
) -> ItemRow:
    """One item's row (stale, blocking) from its state with `item` and `latest_run` loaded."""
    now = now or timezone.now()
    cutoff = cutoff or freshness_cutoff(now)
    item = item_state.item
    stale = is_stale(item, item_state, cutoff=cutoff, now=now)
    blocking = not item.optional and (item_state.state not in DONE or stale)
    return ItemRow(state=item_state, stale=stale, blocking=blocking, depth=depth)


def stale_condition(now: datetime) -> Q:
    """`is_stale` as a database filter on ItemState rows, for the aggregate reads.

    Judged, like `item_rows` does, at `now` — or at the moment a signed-off deployment was signed off.
    """
    moment = Case(
        When(
            deployment__status=Deployment.Status.SIGNED_OFF,
            deployment__signed_off_at__isnull=False,
            then=F("deployment__signed_off_at"),
        ),
        default=Value(now),
        output_field=DateTimeField(),
    )
    ttl = timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES)
    cutoff = ExpressionWrapper(moment - Value(ttl), output_field=DateTimeField())
    attested_before = ExpressionWrapper(moment - F("item__valid_for"), output_field=DateTimeField())
    probe_stale = Q(item__probe__isnull=False, carried_from__isnull=True) & (
        Q(last_passed_at__isnull=True) | Q(last_passed_at__lt=cutoff)
    )
    attestation_stale = Q(item__probe__isnull=True, item__valid_for__isnull=False) & (
        Q(updated_at__isnull=True) | Q(updated_at__lt=attested_before)
    )
    return Q(state=State.PASSED) & (probe_stale | attestation_stale)


def digest_of(deployment: Deployment, rows: list[ItemRow]) -> str:
    """What a signer saw: every item's state, note, waiver, evidence and latest run, and the deployment's status."""
    hasher = hashlib.sha256(f"{deployment.pk}:{deployment.status}\n".encode())
    for row in rows:
        state = row.state
        hasher.update(
            f"{row.item.key}\0{state.state}\0{state.note}\0{state.waiver_reason}\0{state.evidence_url}"
            f"\0{state.latest_run_id or ''}"
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
    """The deployment as it stands (or, signed off, as it was signed): rows, sign-offs, digest, progress."""
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
    stale = stale_condition(now or timezone.now())
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


def runs_in_flight(deployment: Deployment) -> dict[int, str]:
    """{item id: "queued" | "running"} for the deployment's items whose probe runs now, in one query."""
    return dict(
        ItemState.objects.filter(deployment=deployment).exclude(run_state="").values_list("item_id", "run_state")
    )


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
             "at": item["waiver"]["at"], "expires_at": None}
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
            {"reason": state.waiver_reason, "by": state.waived_by_name or None, "at": _iso(state.waived_at)}
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
    environments = list(Environment.objects.filter(service=service).order_by("name"))
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
