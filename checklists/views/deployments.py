"""The deployment page: its items, live probe results and the sign-off panel, and what people do there."""

from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists import roles
from checklists.errors import NotFound
from checklists.forms import ItemStateForm, ReopenForm, SignOffForm
from checklists.models import Deployment, ItemState, Section, Source
from checklists.selectors import ItemRow, deployment_snapshot, runs_in_flight
from checklists.services import deployment_reopen, item_state_set, signoff_record
from checklists.templatetags.ctrlready import STATE_LABELS, percent, probe_summary
from checklists.views.common import form_error, next_url, permissions, viewer_required

State = ItemState.State
TEMPLATE = "checklists/deployment.html"
PARTS = {"progress": "progress", "signoff": "signoff", "live": "live_response"}
OPEN_STATES = (State.PENDING, State.FAILED)


def _needs_human(row: ItemRow, parent_ids: set) -> bool:
    return not row.item.automated and row.item.pk not in parent_ids and row.state.state in OPEN_STATES


FILTERS = {
    "human": ("Needs a human", _needs_human),
    "failing": ("Failing", lambda row, parents: row.state.state == State.FAILED),
    "blocking": ("Blocking", lambda row, parents: row.blocking),
    "stale": ("Stale", lambda row, parents: row.stale),
    "optional": ("Optional", lambda row, parents: row.item.optional),
}


@dataclass
class SectionBlock:
    section: Section
    depth: int
    rows: list = field(default_factory=list)
    total: int = 0
    done: int = 0
    failed: int = 0
    blocking: int = 0
    visible: int = 0

    @property
    def heading(self) -> int:
        return min(2 + self.depth, 6)

    @property
    def pct_done(self) -> str:
        return percent(self.done, self.total)

    @property
    def pct_failed(self) -> str:
        return percent(self.failed, self.total)


def _deployment(pk: int) -> Deployment:
    return get_object_or_404(
        Deployment.objects.select_related("environment__service", "version__checklist", "created_by"), pk=pk
    )


def _blocks(deployment: Deployment, rows: list[ItemRow], visible: list[ItemRow]) -> list[SectionBlock]:
    """Sections in document order, each with its visible rows and the progress of everything under it."""
    sections = list(Section.objects.filter(version_id=deployment.version_id).order_by("position"))
    by_id: dict[int, SectionBlock] = {}
    for section in sections:
        parent = by_id.get(section.parent_id)
        by_id[section.pk] = SectionBlock(section=section, depth=parent.depth + 1 if parent else 0)
    visible_ids = {row.state.pk for row in visible}
    for row in rows:
        block = by_id[row.item.section_id]
        shown = row.state.pk in visible_ids
        if shown:
            block.rows.append(row)
        while block is not None:
            block.total += 1
            block.done += row.state.state in (State.PASSED, State.WAIVED, State.NA)
            block.failed += row.state.state == State.FAILED
            block.blocking += row.blocking
            block.visible += shown
            block = by_id.get(block.section.parent_id)
    return [by_id[section.pk] for section in sections if by_id[section.pk].total]


def _dress(row: ItemRow, page_url: str, parent_ids: set, can: dict) -> None:
    """What the row template shows, worked out once here rather than in many template lookups."""
    item, state = row.item, row.state.state
    row.key = item.key
    row.tid = f"t{row.state.pk}"
    row.url = f"{page_url}items/{item.key}/"
    row.label = STATE_LABELS.get(state, state)
    row.parent = item.pk in parent_ids
    row.probe = probe_summary(item.probe) if item.probe is not None else ""
    row.tickable = not row.parent and (state != State.WAIVED or can["waive"])
    row.css = "item is-" + state + (" is-blocking" if row.blocking else "") + (" is-stale" if row.stale else "")


def page_context(request, deployment: Deployment) -> dict:
    """Everything the page and its partials show, in a fixed number of queries whatever the size."""
    snapshot = deployment_snapshot(deployment)
    rows = snapshot.rows
    parent_ids = {row.item.parent_id for row in rows if row.item.parent_id}
    current = request.GET.get("show", "")
    if current in FILTERS:
        test = FILTERS[current][1]
        visible = [row for row in rows if test(row, parent_ids)]
    else:
        current, visible = "", rows
    url = reverse("deployment", args=[deployment.pk])
    query = f"?show={current}" if current else ""
    user = request.user
    can = permissions(user)
    live = not deployment.locked
    flying = runs_in_flight(deployment)
    for row in rows:
        _dress(row, url, parent_ids, can)
        row.flying = flying.get(row.item.pk, "")
    signed = {signoff.role: signoff for signoff in snapshot.signoffs}
    return {
        "deployment": deployment,
        "environment": deployment.environment,
        "version": deployment.version,
        "snapshot": snapshot,
        "progress": snapshot.progress,
        "done": snapshot.progress["passed"] + snapshot.progress["waived"] + snapshot.progress["na"],
        "rows": rows,
        "visible": visible,
        "blocks": _blocks(deployment, rows, visible),
        "parent_ids": parent_ids,
        "automated_visible": [row for row in visible if row.item.automated],
        "automated_count": sum(1 for row in rows if row.item.automated),
        "filters": [
            (key, label, sum(1 for row in rows if test(row, parent_ids))) for key, (label, test) in FILTERS.items()
        ],
        "current_filter": current,
        "page_url": url,
        "here": url + query,
        "anchor_base": url + query if current else "",
        "part_url": f"{url}{query}{'&' if query else '?'}part=",
        "items_url": url + "items/",
        "runs_url": reverse("deployment-runs", args=[deployment.pk]) + query,
        "history_url": reverse("deployment-history", args=[deployment.pk]),
        "in_flight": len(flying),
        "can": can,
        "live": live,
        "actions": live and can["tick"],
        "role_status": [(role, signed.get(role)) for role in snapshot.required_roles],
        "signable_roles": [role for role in snapshot.missing_roles if roles.has_role(user, role)],
        "blocking_shown": snapshot.blocking[:25],
    }


@require_GET
@viewer_required
def deployment_detail(request, pk: int):
    deployment = _deployment(pk)
    context = page_context(request, deployment)
    part = request.GET.get("part") if request.htmx else None
    if part in PARTS:
        return render(request, f"{TEMPLATE}#{PARTS[part]}", context)
    return render(request, TEMPLATE, context)


def render_rows(request, deployment: Deployment, keys: list[str], *, editing: bool = False) -> str:
    """The rows of `keys` and their parents: the first swapped in place, the others out of band."""
    context = page_context(request, deployment)
    by_key = {row.item.key: row for row in context["rows"]}
    by_pk = {row.item.pk: row for row in context["rows"]}
    wanted, seen = [], set()
    for key in keys:
        row = by_key.get(key)
        while row is not None and row.item.pk not in seen:
            seen.add(row.item.pk)
            wanted.append(row)
            row = by_pk.get(row.item.parent_id)
    if not wanted:
        raise NotFound(f"This deployment's checklist has no item `{keys[0]}`.")
    return "".join(
        render_to_string(
            f"{TEMPLATE}#row", {**context, "row": row, "oob": index > 0, "editing": editing and index == 0}, request
        )
        for index, row in enumerate(wanted)
    )


@require_http_methods(["GET", "POST"])
@viewer_required
def item(request, pk: int, key: str):
    """GET: the item with its note and waive forms. POST: set its state, note or evidence link."""
    if request.method == "GET":
        return _item_page(request, pk, key)
    form = ItemStateForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    data = form.cleaned_data
    item_state_set(
        deployment_id=pk,
        key=key,
        state=data["state"] or None,
        note=data["note"] if "note" in request.POST else None,
        evidence_url=data["evidence_url"] if "evidence_url" in request.POST else None,
        actor=request.user,
        source=Source.WEB,
    )
    if request.htmx:
        response = HttpResponse(render_rows(request, _deployment(pk), [key]))
        response["HX-Trigger"] = "item-changed"
        return response
    return redirect(_back(request, pk) + f"#item-{key}")


def _item_page(request, pk: int, key: str):
    deployment = _deployment(pk)
    editing = request.GET.get("view") != "row"
    if request.htmx:
        return HttpResponse(render_rows(request, deployment, [key], editing=editing))
    context = page_context(request, deployment)
    row = next((row for row in context["rows"] if row.item.key == key), None)
    if row is None:
        raise NotFound(f"This deployment's checklist has no item `{key}`.")
    item_url = reverse("item", args=[pk, key])
    return render(request, "checklists/item.html", {**context, "row": row, "editing": True, "item_url": item_url, "here": item_url})


def _back(request, pk: int) -> str:
    return next_url(request, default=reverse("deployment", args=[pk]))


@require_POST
@viewer_required
def signoff(request, pk: int):
    form = SignOffForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    data = form.cleaned_data
    signoff_record(
        deployment_id=pk, role=data["role"], digest=data["digest"], comment=data["comment"].strip(),
        actor=request.user, source=Source.WEB,
    )
    deployment = _deployment(pk)
    if deployment.status == Deployment.Status.SIGNED_OFF:
        messages.success(request, "Signed off: the deployment is now locked.")
    else:
        messages.success(request, f"Your {data['role']} sign-off is recorded; other roles still need to sign.")
    return redirect("deployment", pk=pk)


@require_POST
@viewer_required
def reopen(request, pk: int):
    form = ReopenForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    deployment_reopen(deployment_id=pk, reason=form.cleaned_data["reason"], actor=request.user, source=Source.WEB)
    messages.success(request, "Reopened: the sign-offs are void and items can change again.")
    return redirect("deployment", pk=pk)
