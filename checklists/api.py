"""JSON API for checklists and deployments.  Handlers translate: validate, call a service, serialise."""

from contextlib import nullcontext
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status

from checklists import assignments, comments, deployments, imports, items, report_files, selectors, signoffs
from checklists.models import ChecklistVersion, Deployment, Environment, ItemState, ReportFile
from checklists.reports import FORMATS
from checklists.views.reports import pdf_response, report_response
from core import roles
from core.errors import DomainError, InvalidInput, NotFound, Unavailable
from core.models import Source
from core.text import excerpt

router = Router()

API = Source.API


class ErrorOut(Schema):
    error: str


def _errors(*codes: int) -> dict:
    return {code: ErrorOut for code in codes}


# --- Schemas ------------------------------------------------------------------


class ImportIn(Schema):
    name: str = Field("", max_length=200, description="Defaults to the file's `#` title.")
    markdown: str


class CountsOut(Schema):
    sections: int
    groups: int
    items: int
    optional_items: int
    automated_items: int


class ImportOut(Schema):
    checklist: str
    version: int
    sha256: str
    counts: CountsOut


class PreviewSectionOut(Schema):
    title: str
    optional: bool
    items: int


class PreviewOut(Schema):
    checklist: str = Field(..., description="The slug of the checklist the file would go to.")
    name: str
    title: str
    exists: bool
    latest_version: int | None
    identical_version: int | None = Field(..., description="The version whose text is this very file, if any.")
    required_roles: list[str]
    counts: CountsOut
    sections: list[PreviewSectionOut]


class TreeItemOut(Schema):
    key: str
    text: str
    optional: bool
    automated: bool
    probe: dict | None
    children: list["TreeItemOut"]


class TreeSectionOut(Schema):
    title: str
    description: str = Field(description="The prose under the heading, as Markdown.")
    optional: bool
    items: list[TreeItemOut]
    sections: list["TreeSectionOut"]


TreeItemOut.model_rebuild()
TreeSectionOut.model_rebuild()


class VersionOut(Schema):
    checklist: str
    version: int
    title: str
    description: str = Field(description="The prose under the title, as Markdown.")
    required_roles: list[str]
    sha256: str
    created_at: datetime
    sections: list[TreeSectionOut]


class ProgressOut(Schema):
    total: int
    passed: int
    failed: int
    pending: int
    waived: int
    na: int
    blocking: int


class ConditionOut(Schema):
    expr: str
    ok: bool
    observed: Any = None


class HostRunOut(Schema):
    host: str
    role: str
    status: str
    message: str
    conditions: list[ConditionOut]


class RunOut(Schema):
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    message: str
    flaky: bool
    conditions: list[ConditionOut]
    hosts: list[HostRunOut]
    details_url: str


class CarriedOut(Schema):
    deployment: int
    release: str
    environment: str


class ItemOut(Schema):
    key: str
    text: str
    section: list[str]
    parent: str | None
    optional: bool
    automated: bool
    state: str
    by: str | None
    at: datetime | None
    note: str
    waiver_reason: str = Field(description="Why a lead waived the item; empty unless it is waived.")
    waived_by: str | None
    waived_at: datetime | None
    waiver_expires_at: datetime | None = Field(None, description="When the waiver ends: past it, the item blocks again.")
    waiver_expired: bool = Field(False, description="The waiver is past its expiry: the item blocks again.")
    waiver_proposed: bool = Field(
        False, description="The waiver waits for a second lead's approval (CTRLREADY_WAIVER_APPROVAL); it blocks till then."
    )
    waiver_approved_by: str | None = None
    assignee: str | None = Field(None, description="The username of the person the item waits on.")
    evidence_url: str
    stale: bool
    blocking: bool
    carried_from: CarriedOut | None = Field(
        None, description="Where a carried-over state was attested; `by` and `at` are that attestation's."
    )
    probe: RunOut | None


class SignOffOut(Schema):
    role: str
    user: str
    at: datetime
    comment: str


class DeploymentOut(Schema):
    id: int
    status: str
    release: str
    environment: int
    checklist: str
    version: int
    digest: str
    progress: ProgressOut
    items: list[ItemOut]
    signoffs: list[SignOffOut]
    required_roles: list[str]
    missing_roles: list[str]
    created_at: datetime
    due_at: datetime | None = Field(None, description="The planned go-live.")


class DeploymentSummaryOut(Schema):
    id: int
    release: str
    status: str
    environment: int
    checklist: str
    version: int
    progress: ProgressOut
    created_at: datetime


class DeploymentListOut(Schema):
    deployments: list[DeploymentSummaryOut]


class DeploymentFilter(Schema):
    environment: int | None = None
    status: Deployment.Status | None = None
    limit: int = Field(100, ge=1, le=1000)


class DeploymentIn(Schema):
    environment: int
    checklist: str = Field("", description="The checklist's slug; with `from`, defaults to the origin's.")
    version: int | None = Field(
        None, ge=1, description="Defaults to the checklist's latest version (with `from` and no `checklist`, the origin's)."
    )
    release: str = Field("", description="With `from`, defaults to the origin's release.")
    from_: int | None = Field(
        None, alias="from", ge=1,
        description="A signed-off deployment of the same release (e.g. in staging) whose `scope: release` evidence carries over.",
    )
    due_at: datetime | None = Field(None, description="The planned go-live, ISO 8601 (UTC if no offset is given).")


class ItemStateIn(Schema):
    state: ItemState.State | None = None
    note: str | None = None
    evidence_url: str | None = None
    seen: ItemState.State | None = Field(
        None, description="The state you saw: if the item is no longer in it, 409 with the item as it is now."
    )
    assignee: str | None = Field(
        None, max_length=150,
        description="A username to assign the item to (your own to take it; a lead assigns anyone), or null for nobody.",
    )
    expires_at: datetime | None = Field(None, description="With `state: waived`: when the waiver ends.")
    for_days: int | None = Field(None, ge=1, le=3650, description="With `state: waived`: the waiver ends this many days from now.")


class ItemMovedOut(Schema):
    error: str
    current: ItemOut = Field(..., description="The item as it is now.")


class ItemsBulkIn(Schema):
    keys: list[str] = Field(..., description="The items to change.")
    state: ItemState.State
    note: str | None = Field(None, description="A note for each; for `waived`, the waiver's reason.")
    seen: dict[str, ItemState.State] = Field(
        default_factory=dict, description="{key: the state you saw}; an item no longer in it refuses the change."
    )


class ItemsOut(Schema):
    items: list[ItemOut]


class RefusedItemOut(Schema):
    key: str
    error: str


class ItemsRefusedOut(Schema):
    error: str
    refused: list[RefusedItemOut] = Field(
        default_factory=list, description="Each item refused and why; empty or absent when the whole request is."
    )


class CommentIn(Schema):
    text: str = Field(..., max_length=comments.MAX_COMMENT, description="Markdown; `@username` mentions notify.")


class CommentOut(Schema):
    id: int
    at: datetime
    author: str
    text: str
    html: str = Field(description="The Markdown rendered and sanitised.")


class SignOffIn(Schema):
    role: str = "lead"
    comment: str = ""
    digest: str = Field(..., description="The `digest` of the deployment as you reviewed it.")


class SignOffCreatedOut(SignOffOut):
    deployment_status: str


class ReopenIn(Schema):
    reason: str


class DueIn(Schema):
    due_at: datetime | None = Field(description="The planned go-live (ISO 8601; UTC if it names no zone), or null: not planned.")


class EventOut(Schema):
    id: int
    at: datetime
    actor: str
    kind: str
    item: str | None
    before: str
    after: str
    note: str
    source: str


class EventListOut(Schema):
    events: list[EventOut]
    next: int | None = Field(
        description="With `limit`: give it as `after` to read on; null once there are no more events."
    )


class EventsQuery(Schema):
    after: int | None = Field(None, ge=1, description="Start just after this event (the previous answer's `next`).")
    limit: int | None = Field(None, ge=1, le=1000, description="At most this many events (all of them if left out).")


class GoOut(Schema):
    go: bool


class GateOut(Schema):
    error: str
    go: bool
    blocking: list[str]
    missing_roles: list[str]


# --- Serialisers ----------------------------------------------------------------


def _run_out(run) -> dict | None:
    if run is None:
        return None
    return {
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "message": run.message,
        "flaky": run.flaky,
        "conditions": _conditions_out(run.conditions),
        "hosts": [
            {"host": str(h.get("host") or ""), "role": str(h.get("role") or ""), "status": str(h.get("status") or ""),
             "message": str(h.get("message") or ""), "conditions": _conditions_out(h.get("conditions"))}
            for h in run.hosts if isinstance(h, dict)
        ],
        "details_url": run.details_url,
    }


def _conditions_out(conditions) -> list[dict]:
    return [
        {"expr": c.get("expr", ""), "ok": bool(c.get("ok")), "observed": c.get("observed")}
        for c in (conditions or [])
        if isinstance(c, dict)
    ]


def _item_out(row: selectors.ItemRow, parent_key: str | None) -> dict:
    state, item = row.state, row.item
    return {
        "key": item.key,
        "text": item.text,
        "section": item.section_path,
        "parent": parent_key,
        "optional": item.optional,
        "automated": item.automated,
        "state": state.state,
        "by": state.updated_by_name or None,
        "at": state.updated_at,
        "note": state.note,
        "waiver_reason": state.waiver_reason,
        "waived_by": state.waived_by_name or None,
        "waived_at": state.waived_at,
        "waiver_expires_at": state.waiver_expires_at if state.state == ItemState.State.WAIVED else None,
        "waiver_expired": row.lapsed and not state.waiver_proposed,
        "waiver_proposed": state.state == ItemState.State.WAIVED and state.waiver_proposed,
        "waiver_approved_by": state.waiver_approved_by_name or None,
        "assignee": state.assignee_name,
        "evidence_url": state.evidence_url,
        "stale": row.stale,
        "blocking": row.blocking,
        "carried_from": _carried_out(state),
        "probe": _run_out(row.run),
    }


def _carried_out(state) -> dict | None:
    carried = getattr(state, "carried", None)
    if carried is not None:
        return carried.as_dict()
    if getattr(state, "carried_from_id", None) is None:
        return None
    origin = state.carried_from  # a model instance: one query, for the one item just changed
    return {"deployment": origin.pk, "release": origin.release, "environment": origin.environment.name}


def _deployment_out(deployment: Deployment) -> dict:
    snapshot = selectors.deployment_snapshot(deployment)
    key_of = {row.item.pk: row.item.key for row in snapshot.rows}
    return {
        "id": deployment.pk,
        "status": deployment.status,
        "release": deployment.release,
        "environment": deployment.environment_id,
        "checklist": deployment.version.checklist.slug,
        "version": deployment.version.number,
        "digest": snapshot.digest,
        "progress": snapshot.progress,
        "items": [_item_out(row, key_of.get(row.item.parent_id)) for row in snapshot.rows],
        "signoffs": [_signoff_out(signoff) for signoff in snapshot.signoffs],
        "required_roles": snapshot.required_roles,
        "missing_roles": snapshot.missing_roles,
        "created_at": deployment.created_at,
        "due_at": deployment.due_at,
    }


def _signoff_out(signoff) -> dict:
    return {"role": signoff.role, "user": signoff.username, "at": signoff.at, "comment": signoff.comment}


def _deployment(request, deployment_id: int) -> Deployment:
    """The deployment, if the caller may read it (404 otherwise)."""
    return selectors.deployment_for(request.auth, deployment_id)


# --- Checklists -------------------------------------------------------------------


@router.post("checklists/import", response={200: ImportOut, 201: ImportOut, **_errors(400, 401, 403, 409, 413)})
def checklist_import(request, payload: ImportIn):
    """Import a Markdown checklist: 201 with the new version, or 200 with an identical existing one."""
    result = imports.checklist_import(markdown=payload.markdown, name=payload.name, actor=request.auth, source=API)
    return Status(201 if result.created else 200, result.as_dict())


@router.post("checklists/preview", response={200: PreviewOut, **_errors(400, 401, 403, 409, 413)})
def checklist_import_preview(request, payload: ImportIn):
    """What importing this file would do — the checklist it goes to, its counts — with nothing stored."""
    preview = imports.checklist_import_preview(markdown=payload.markdown, name=payload.name, actor=request.auth)
    return preview.as_dict()


@router.get("checklists/{slug}/versions/{int:number}", response={200: VersionOut, **_errors(401, 403, 404)})
def checklist_version(request, slug: str, number: int):
    """One version of a checklist: its sections and items, nested."""
    roles.require(request.auth, "read", team=roles.ANY)
    version = (
        ChecklistVersion.objects.select_related("checklist")
        .filter(checklist__slug=slug, number=number)
        .first()
    )
    if version is None:
        raise NotFound(f"There is no checklist `{excerpt(slug)}` version {number}.")
    return {
        "checklist": version.checklist.slug,
        "version": version.number,
        "title": version.title,
        "description": version.description,
        "required_roles": version.required_roles or ["lead"],
        "sha256": version.sha256,
        "created_at": version.created_at,
        "sections": selectors.version_tree(version),
    }


# --- Deployments ------------------------------------------------------------------


@router.get("deployments", response={200: DeploymentListOut, **_errors(400, 401, 403)})
def deployment_list(request, filters: Query[DeploymentFilter]):
    """The deployments you may read, newest first; filter by `environment` (id) and `status`."""
    roles.require(request.auth, "read", team=roles.ANY)
    listed = selectors.deployment_list(
        actor=request.auth, environment_id=filters.environment, status=filters.status, limit=filters.limit
    )
    return {
        "deployments": [
            {
                "id": deployment.pk,
                "release": deployment.release,
                "status": deployment.status,
                "environment": deployment.environment_id,
                "checklist": deployment.version.checklist.slug,
                "version": deployment.version.number,
                "progress": progress,
                "created_at": deployment.created_at,
            }
            for deployment, progress in ((entry.deployment, entry.progress) for entry in listed)
        ]
    }


@router.post("deployments", response={201: DeploymentOut, **_errors(400, 401, 403, 404, 409)})
def deployment_create(request, payload: DeploymentIn):
    """Start a deployment of a release to an environment, against a checklist version."""
    environment = Environment.objects.select_related("service").filter(pk=payload.environment).first()
    if environment is None or not roles.can(request.auth, "read", team=environment.owner_team_id):
        raise NotFound(f"There is no environment {payload.environment}; list them with GET /api/v1/environments.")
    deployment = deployments.deployment_create(
        environment=environment,
        checklist_slug=payload.checklist,
        version_number=payload.version,
        release=payload.release,
        from_id=payload.from_,
        due_at=payload.due_at,
        actor=request.auth,
        source=API,
    )
    return Status(201, _deployment_out(_deployment(request, deployment.pk)))


@router.get("deployments/{int:deployment_id}", response={200: DeploymentOut, **_errors(401, 403, 404)})
def deployment_detail(request, deployment_id: int):
    """A deployment: every item's state and latest probe result, progress, sign-offs and the digest to sign."""
    return _deployment_out(_deployment(request, deployment_id))


def _state_item_out(item_state) -> dict:
    item = item_state.item
    parent_key = item.parent.key if item.parent_id else None
    return _item_out(selectors.item_row(item_state), parent_key)


@router.post(
    "deployments/{int:deployment_id}/items",
    response={200: ItemsOut, 400: ItemsRefusedOut, 403: ItemsRefusedOut, 404: ItemsRefusedOut, 409: ItemsRefusedOut,
              **_errors(401)},
)
def items_bulk_set(request, deployment_id: int, payload: ItemsBulkIn):
    """Set many items to one state with one note, in one transaction, one event per item changed; if any item
    is refused, nothing changes and `refused` names each one and why."""
    try:
        changed = items.items_bulk_set(
            deployment_id=deployment_id, keys=payload.keys, state=payload.state, note=payload.note,
            seen=payload.seen, actor=request.auth, source=API,
        )
    except items.ItemsRefused:
        raise
    except DomainError as error:  # the whole request refused (locked, a role, nothing chosen): no item to name
        return Status(error.status, {"error": error.message, "refused": []})
    deployment = _deployment(request, deployment_id)
    keys = {item_state.item.key for item_state in changed}
    rows = selectors.item_rows_with_parents(deployment, keys)
    key_of = {row.item.pk: row.item.key for row in rows}
    return {"items": [_item_out(row, key_of.get(row.item.parent_id)) for row in rows if row.item.key in keys]}


@router.post(
    "deployments/{int:deployment_id}/items/{key}/comments",
    response={201: CommentOut, **_errors(400, 401, 403, 404)},
)
def comment_add(request, deployment_id: int, key: str, payload: CommentIn):
    """Comment on an item (Markdown, sanitised); each `@username` mentioned who may read it is told."""
    event = comments.comment_add(deployment_id=deployment_id, key=key, text=payload.text, actor=request.auth, source=API)
    return Status(
        201, {"id": event.pk, "at": event.at, "author": event.actor_name, "text": event.note, "html": event.data["html"]}
    )


@router.post(
    "deployments/{int:deployment_id}/items/{key}/approve",
    response={200: ItemOut, **_errors(400, 401, 403, 404, 409)},
)
def waiver_approve(request, deployment_id: int, key: str):
    """Approve a proposed waiver (CTRLREADY_WAIVER_APPROVAL): a lead other than the one who proposed it."""
    item_state = items.waiver_approve(deployment_id=deployment_id, key=key, actor=request.auth, source=API)
    return _state_item_out(item_state)


@router.post(
    "deployments/{int:deployment_id}/items/{path:key}",
    response={200: ItemOut, 409: ItemMovedOut | ErrorOut, **_errors(400, 401, 403, 404)},
)
def item_state_set(request, deployment_id: int, key: str, payload: ItemStateIn):
    """Set an item's state, note or evidence link (a waiver with its expiry), and/or its assignee; with `seen`,
    only if the item is still in that state."""
    changes_state = any(
        value is not None
        for value in (payload.state, payload.note, payload.evidence_url, payload.expires_at, payload.for_days)
    )
    assigns = "assignee" in payload.model_fields_set
    if not changes_state and not assigns:
        raise InvalidInput("Give a `state`, a `note`, an `evidence_url` or an `assignee`.")
    try:
        # One transaction for both changes; a lone change is already one (and a savepoint would cost a tick two queries).
        with transaction.atomic() if changes_state and assigns else nullcontext():
            if changes_state:
                item_state = items.item_state_set(
                    deployment_id=deployment_id,
                    key=key,
                    state=payload.state,
                    note=payload.note,
                    evidence_url=payload.evidence_url,
                    waiver_expires_at=payload.expires_at,
                    waiver_for_days=payload.for_days,
                    seen=payload.seen,
                    actor=request.auth,
                    source=API,
                )
            if assigns:
                item_state = assignments.item_assign(
                    deployment_id=deployment_id, key=key, assignee=payload.assignee, actor=request.auth, source=API
                )
    except items.ItemMoved as moved:
        return Status(409, {"error": moved.message, "current": _state_item_out(moved.item_state)})
    return _state_item_out(item_state)


@router.post(
    "deployments/{int:deployment_id}/signoffs",
    response={201: SignOffCreatedOut, **_errors(400, 401, 403, 404, 409)},
)
def signoff_record(request, deployment_id: int, payload: SignOffIn):
    """Sign off for a role; refused (409) while anything blocks or when `digest` is no longer current."""
    signoff = signoffs.signoff_record(
        deployment_id=deployment_id,
        role=payload.role,
        digest=payload.digest,
        comment=payload.comment,
        actor=request.auth,
        source=API,
    )
    status = Deployment.objects.values_list("status", flat=True).get(pk=deployment_id)
    return Status(201, {**_signoff_out(signoff), "deployment_status": status})


@router.put("deployments/{int:deployment_id}/due", response={200: DeploymentOut, **_errors(400, 401, 403, 404, 409)})
def deployment_due_set(request, deployment_id: int, payload: DueIn):
    """Move the deployment's planned go-live (or clear it); the `due_soon` reminder is armed again."""
    deployments.deployment_due_set(deployment_id=deployment_id, due_at=payload.due_at, actor=request.auth, source=API)
    return _deployment_out(_deployment(request, deployment_id))


@router.post("deployments/{int:deployment_id}/reopen", response={200: DeploymentOut, **_errors(400, 401, 403, 404, 409)})
def deployment_reopen(request, deployment_id: int, payload: ReopenIn):
    """Reopen a signed-off deployment: its sign-offs are voided, and the reason recorded."""
    signoffs.deployment_reopen(deployment_id=deployment_id, reason=payload.reason, actor=request.auth, source=API)
    return _deployment_out(_deployment(request, deployment_id))


@router.get("deployments/{int:deployment_id}/events", response={200: EventListOut, **_errors(400, 401, 403, 404)})
def deployment_events(request, deployment_id: int, page: Query[EventsQuery]):
    """The deployment's history, oldest first: all of it, or `limit` events at a time, each batch read on
    from the previous one's `next` (`after`)."""
    deployment = Deployment.objects.select_related("environment__service").filter(pk=deployment_id).first()
    # A deleted deployment's history outlives it; whose it was is no longer known, so only site-wide readers see it.
    roles.require(request.auth, "read", team=deployment.owner_team_id if deployment else None)
    events, cursor = selectors.deployment_events(deployment_id, after=page.after, limit=page.limit)
    return {
        "next": cursor,
        "events": [
            {
                "id": event.pk,
                "at": event.at,
                "actor": event.actor_name,
                "kind": event.kind,
                "item": event.item_key or None,
                "before": event.before,
                "after": event.after,
                "note": event.note,
                "source": event.source,
            }
            for event in events
        ]
    }


@router.get("deployments/{int:deployment_id}/gate", response={200: GoOut, 409: GateOut, **_errors(401, 403, 404)})
def deployment_gate(request, deployment_id: int):
    """For a pipeline: 200 `{"go": true}` once signed off, else 409 with what blocks and who must sign."""
    deployment = _deployment(request, deployment_id)
    if deployment.status == Deployment.Status.SIGNED_OFF:
        return {"go": True}
    snapshot = selectors.deployment_snapshot(deployment)
    blocking = [row.item.key for row in snapshot.blocking]
    missing = snapshot.missing_roles
    reasons = []
    if blocking:
        reasons.append(f"{len(blocking)} item(s) still block it")
    if missing:
        reasons.append(f"it needs sign-off by: {', '.join(missing)}")
    message = "Not signed off yet: " + "; ".join(reasons) + "."
    return Status(409, {"go": False, "blocking": blocking, "missing_roles": missing, "error": message})


# --- Across deployments: compare, report -------------------------------------------------


class CompareSideOut(Schema):
    state: str
    by: str | None
    at: datetime | None
    note: str
    evidence_url: str
    stale: bool
    carried_from: CarriedOut | None
    observed: list[ConditionOut] | None = Field(
        description="Every condition of the latest probe run with the value it observed; null for a manual item or no run."
    )


class CompareItemOut(Schema):
    key: str
    text: str
    change: str = Field(description="`same`, `changed`, `added` (only in b) or `removed` (only in a).")
    moved: list[str] = Field(description="What differs: state, note, evidence_url, stale, text, probe, observed.")
    a: CompareSideOut | None
    b: CompareSideOut | None


class CompareSummaryOut(Schema):
    same: int
    changed: int
    added: int
    removed: int


class CompareOut(Schema):
    a: DeploymentSummaryOut
    b: DeploymentSummaryOut
    items: list[CompareItemOut]
    summary: CompareSummaryOut


def _summary_out(deployment: Deployment, progress: dict) -> dict:
    return {
        "id": deployment.pk,
        "release": deployment.release,
        "status": deployment.status,
        "environment": deployment.environment_id,
        "checklist": deployment.version.checklist.slug,
        "version": deployment.version.number,
        "progress": progress,
        "created_at": deployment.created_at,
    }


@router.get(
    "deployments/{int:a}/compare/{int:b}", response={200: CompareOut, **_errors(401, 403, 404)}
)
def deployment_compare(request, a: int, b: int):
    """Two deployments item by item: state, who, when, note, evidence and observed values side by side."""
    comparison = selectors.deployment_compare(_deployment(request, a), _deployment(request, b))
    return {
        "a": _summary_out(comparison.a, comparison.progress_a),
        "b": _summary_out(comparison.b, comparison.progress_b),
        "items": [
            {
                "key": item.key,
                "text": item.text,
                "change": item.change,
                "moved": item.moved,
                "a": item.a.as_dict() if item.a else None,
                "b": item.b.as_dict() if item.b else None,
            }
            for item in comparison.items
        ],
        "summary": comparison.summary,
    }


class ReportFileOut(Schema):
    status: Literal["pending", "drawing", "ready", "failed"]
    message: str = Field(description="Why a drawing failed; empty otherwise.")
    sha256: str = Field(description="The `sha256` of the report being drawn: its JSON as of when it was asked for.")
    asked_at: datetime


def _report_file_out(report_file: ReportFile) -> dict:
    status, message = report_files.report_file_outcome(report_file)
    return {"status": status, "message": message, "sha256": report_file.report_sha256, "asked_at": report_file.asked_at}


PDF_RETRY_SECONDS = "2"


@router.get(
    "deployments/{int:deployment_id}/report.{fmt}",
    response={200: dict, 202: ReportFileOut, **_errors(400, 401, 403, 404, 503)},
    openapi_extra={
        "responses": {
            "200": {
                "description": "The report: `json`, `md` (Markdown), `pdf`, or `xml` (JUnit).",
                "content": {content_type.split(";")[0]: {} for content_type in FORMATS.values()},
            }
        }
    },
)
def deployment_report(request, response: HttpResponse, deployment_id: int, fmt: Literal["json", "md", "pdf", "xml"]):
    """The record of a deployment for an auditor or a change board; the JSON carries the `sha256` of its content.

    The PDF is drawn by a worker and kept while the deployment stays as it is: the first ask queues the
    drawing (202), later ones get 202 until it is ready, then the PDF; 503 with the reason if it failed.
    """
    deployment = _deployment(request, deployment_id)
    if fmt != "pdf":
        return report_response(deployment, fmt)
    report_file = report_files.report_file_request(deployment=deployment)
    status, message = report_files.report_file_outcome(report_file)
    if status == ReportFile.Status.READY:
        return pdf_response(deployment, report_file)
    if status == ReportFile.Status.FAILED:
        raise Unavailable(f"{message} To draw it again: POST /api/v1/deployments/{deployment.pk}/report.pdf.")
    response["Retry-After"] = PDF_RETRY_SECONDS
    return Status(202, _report_file_out(report_file))


@router.post(
    "deployments/{int:deployment_id}/report.{fmt}",
    response={200: ReportFileOut, 202: ReportFileOut, **_errors(400, 401, 403, 404, 503)},
)
def deployment_report_again(request, response: HttpResponse, deployment_id: int, fmt: Literal["pdf"]):
    """Draw the PDF again after a drawing failed (202; 200 if it is ready already), then GET it as usual."""
    report_file = report_files.report_file_request(deployment=_deployment(request, deployment_id), again=True)
    out = _report_file_out(report_file)
    if out["status"] == ReportFile.Status.READY:
        return Status(200, out)
    response["Retry-After"] = PDF_RETRY_SECONDS
    return Status(202, out)
