"""The deployment page: its items, live probe results and the sign-off panel, and what people do there."""

from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.forms import ItemStateForm, ReopenForm, SignOffForm
from checklists.models import Deployment, ItemState, Section
from checklists.selectors import DONE, ItemRow, deployment_relations, deployment_snapshot, runs_in_flight
from checklists.services import deployment_reopen, item_state_set, signoff_record
from checklists.views.common import form_error, next_url, permissions, viewer_required
from checklists.views.rows import dress_row, dress_section, page_parts, plain_text, row_html
from core import roles
from core.errors import NotFound
from core.models import Source
from core.text import excerpt

State = ItemState.State
TEMPLATE = "checklists/deployment.html"
PARTS = {"progress": "progress", "signoff": "signoff", "live": "live_response"}
OPEN_STATES = (State.PENDING, State.FAILED)


def _needs_human(row: ItemRow, parent_ids: set) -> bool:
    return not row.automated and not row.parent and row.status in OPEN_STATES


# Each test looks at a dressed row (see rows.dress_row).
FILTERS = {
    "human": ("Needs a human", _needs_human),
    "failing": ("Failing", lambda row, parents: row.status == State.FAILED),
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
    # What the page shows of it (rows.dress_section): its entry in the progress list, its heading, its rows.
    nav: str = ""
    heading: str = ""
    rows_html: str = ""


def _deployment(pk: int) -> Deployment:
    return get_object_or_404(
        Deployment.objects.select_related("environment__service", "version__checklist", "created_by"), pk=pk
    )


def _blocks(
    deployment: Deployment, rows: list[ItemRow], visible: list[ItemRow], anchor_base: str
) -> list[SectionBlock]:
    """Sections in document order, each with its visible rows and the progress of everything under it."""
    sections = list(Section.objects.filter(version_id=deployment.version_id).order_by("position"))
    by_id: dict[int, SectionBlock] = {}
    for section in sections:
        parent = by_id.get(section.parent_id)
        by_id[section.pk] = SectionBlock(section=section, depth=parent.depth + 1 if parent else 0)
    for row in visible:
        by_id[row.item.section_id].rows.append(row)
    for row in rows:
        block = by_id[row.item.section_id]
        block.total += 1
        block.done += row.status in DONE
        block.failed += row.status == State.FAILED
        block.blocking += row.blocking
    for block in by_id.values():
        block.visible = len(block.rows)
    # A section comes after its parent in document order: add each one's counts to its parent, last first.
    for section in reversed(sections):
        parent = by_id.get(section.parent_id)
        if parent is not None:
            block = by_id[section.pk]
            parent.total += block.total
            parent.done += block.done
            parent.failed += block.failed
            parent.blocking += block.blocking
            parent.visible += block.visible
    blocks = [by_id[section.pk] for section in sections]  # a heading without items is a section too
    for block in blocks:
        dress_section(block, anchor_base=anchor_base)
    return blocks


def page_context(request, deployment: Deployment, *, here: str | None = None) -> dict:
    """Everything the page and its partials show, in a fixed number of queries whatever the size.

    `here` is where the row forms come back to (their `next`): this page, with its filter, by default.
    """
    snapshot = deployment_snapshot(deployment)
    rows = snapshot.rows
    parent_ids = {row.item.parent_id for row in rows if row.item.parent_id}
    current = request.GET.get("show", "")
    if current not in FILTERS:
        current = ""
    url = reverse("deployment", args=[deployment.pk])
    query = f"?show={current}" if current else ""
    here = here or url + query
    anchor_base = url + query if current else ""  # where links to a section or an item point
    user = request.user
    can = permissions(user)
    live = not deployment.locked
    flying = runs_in_flight(deployment)
    csrf_token = get_token(request)
    runs_url = reverse("deployment-runs", args=[deployment.pk]) + query
    parts = page_parts(
        page_url=url, runs_url=runs_url, here=here, can=can, actions=live and can["tick"], csrf_token=csrf_token
    )
    for row in rows:
        dress_row(row, parts=parts, parent_ids=parent_ids, flying=flying.get(row.item.pk, ""))
    visible = [row for row in rows if FILTERS[current][1](row, parent_ids)] if current else rows
    automated_visible = [row for row in visible if row.automated]
    signed = {signoff.role: signoff for signoff in snapshot.signoffs}
    blocking_shown = snapshot.blocking[:25]
    for row in blocking_shown:
        row.plain_text = plain_text(row.item.text)
    return {
        "csrf_token": csrf_token,  # one token for every form of the page, the rows' included
        "deployment": deployment,
        "environment": deployment.environment,
        "version": deployment.version,
        "snapshot": snapshot,
        "progress": snapshot.progress,
        "done": snapshot.progress["passed"] + snapshot.progress["waived"] + snapshot.progress["na"],
        "rows": rows,
        "visible": visible,
        "blocks": _blocks(deployment, rows, visible, anchor_base),
        "parent_ids": parent_ids,
        "automated_visible": automated_visible,
        "automated_count": sum(1 for row in rows if row.automated),
        "filters": [
            (key, label, sum(1 for row in rows if test(row, parent_ids))) for key, (label, test) in FILTERS.items()
        ],
        "current_filter": current,
        "page_url": url,
        "here": here,
        "anchor_base": anchor_base,
        "part_url": f"{url}{query}{'&' if query else '?'}part=",
        "items_url": url + "items/",
        "runs_url": runs_url,
        "history_url": reverse("deployment-history", args=[deployment.pk]),
        "in_flight": len(flying),
        "can": can,
        "live": live,
        "actions": live and can["tick"],
        "role_status": [(role, signed.get(role)) for role in snapshot.required_roles],
        "signable_roles": [role for role in snapshot.missing_roles if roles.has_role(user, role)],
        "blocking_shown": blocking_shown,
        "oob": False,  # `live_response` renders the panels with `oob` on, to swap them out of band
    }


@require_GET
@viewer_required
def deployment_detail(request, pk: int):
    deployment = _deployment(pk)
    context = page_context(request, deployment)
    part = request.GET.get("part") if request.htmx else None
    if part in PARTS:
        return render(request, f"{TEMPLATE}#{PARTS[part]}", context)
    context["relations"] = deployment_relations(deployment)  # the whole page only: compare, promote, report
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
        raise NotFound(f"This deployment's checklist has no item `{excerpt(keys[0])}`.")
    edit_form = _edit_form(request, context, wanted[0]) if editing else ""
    return "".join(
        row_html(row, oob=index > 0, edit_form=edit_form if index == 0 else "") for index, row in enumerate(wanted)
    )


def _edit_form(request, context: dict, row: ItemRow) -> str:
    """The row's note and waive forms, opened inside it."""
    return render_to_string(
        "checklists/item_edit.html", {**context, "row": row, "state": row.state, "item": row.item}, request
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
    item_url = reverse("item", args=[pk, key])
    context = page_context(request, deployment, here=item_url)
    row = next((row for row in context["rows"] if row.item.key == key), None)
    if row is None:
        raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.")
    row.html = row_html(row, edit_form=_edit_form(request, context, row))
    return render(request, "checklists/item.html", {**context, "row": row, "item_url": item_url})


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
