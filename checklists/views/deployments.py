"""The deployment page: its items, live probe results and the sign-off panel, and what people do there.

The whole page reads every row; an htmx answer reads only what it shows: a tick's answer the rows it
changed and their parents, and the panels (progress, sign-off) out of band, from the deployment's overview.
"""

from functools import partial

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.assignments import item_assign
from checklists.comments import comment_add, item_comments
from checklists.forms import CommentForm, ItemStateForm, ReopenForm, SignOffForm
from checklists.models import Deployment, ItemState
from checklists.selectors import (
    ItemRow,
    Overview,
    deployment_digest,
    deployment_overview,
    deployment_relations,
    deployment_summaries,
    digest_of,
    item_rows,
    item_rows_with_parents,
)
from checklists.services import deployment_reopen, item_state_set, signoff_record, waiver_approve
from checklists.views.common import form_error, next_url, permissions, viewer_required
from checklists.views.rows import RowBlock, RowOptions, RowView, row_view, rows_html, sections_html
from core import roles
from core.errors import NotFound
from core.models import Source
from core.text import excerpt

State = ItemState.State
TEMPLATE = "checklists/deployment.html"
OPEN_STATES = (State.PENDING, State.FAILED)
BLOCKING_SHOWN = 25


def _needs_human(row: ItemRow) -> bool:
    item = row.item
    return item.probe is None and not item.has_children and row.state.state in OPEN_STATES


# The page's filters (`?show=`), each a test of the selector's row.
FILTERS = {
    "human": ("Needs a human", _needs_human),
    "failing": ("Failing", lambda row: row.state.state == State.FAILED),
    "blocking": ("Blocking", lambda row: row.blocking),
    "stale": ("Stale", lambda row: row.stale),
    "optional": ("Optional", lambda row: row.item.optional),
    "mine": ("Assigned to me", None),  # a test of the person looking: see _filter_test
}


def _filter_test(key: str, me: str):
    """The row test of filter `key` for the person named `me`."""
    if key == "mine":
        return lambda row: row.state.assignee_name == me
    return FILTERS[key][1]


def _deployment(pk: int) -> Deployment:
    return get_object_or_404(
        Deployment.objects.select_related("environment__service", "version__checklist", "created_by"), pk=pk
    )


def _page(request, deployment: Deployment, *, here: str | None = None) -> dict:
    """What the page and each of its answers share: addresses, the filter, what the person may do there.

    `here` is where the row forms come back to (their `next`): this page, with its filter, by default.
    """
    current = request.GET.get("show", "")
    if current not in FILTERS:
        current = ""
    url = reverse("deployment", args=[deployment.pk])
    query = f"?show={current}" if current else ""
    can = permissions(request.user)
    live = not deployment.locked
    return {
        "csrf_token": get_token(request),  # one token for every form of the answer, the rows' included
        "deployment": deployment,
        "environment": deployment.environment,
        "version": deployment.version,
        "current_filter": current,
        "page_url": url,
        "here": here or url + query,
        "me": request.user.get_username(),
        "anchor_base": url + query if current else "",  # where links to a section or an item point
        "part_url": f"{url}{query}{'&' if query else '?'}part=",
        "runs_url": reverse("deployment-runs", args=[deployment.pk]) + query,
        "history_url": reverse("deployment-history", args=[deployment.pk]),
        "can": can,
        "live": live,
        "actions": live and can["tick"],
        "note_label": "Note / waive…" if can["waive"] else "Note…",
        "oob": False,  # the panels are swapped in place, or out of band in an answer that carries them
    }


def _row_options(page: dict) -> RowOptions:
    can = page["can"]
    return RowOptions(
        page_url=page["page_url"], tz=timezone.get_current_timezone(), can_run=can["run"], can_waive=can["waive"],
        actions=page["actions"], username=page["me"], can_assign=can["assign"],
    )


def _row_views(rows: list[ItemRow], page: dict) -> list[RowView]:
    options = _row_options(page)
    return [row_view(row, options) for row in rows]


def _panels(
    request, page: dict, overview: Overview, *, rows: list[ItemRow] | None = None, sections=None, oob: bool = False
) -> dict:
    """What the progress and sign-off panels and the live region show, from the deployment's overview.

    The digest is worked out only when nothing blocks (a sign-off is possible only then), from `rows`
    when the page has read them; `sections` are those the answer shows (all of them by default), each
    swapped out of band if `oob`.
    """
    deployment = overview.deployment
    signed = {signoff.role: signoff for signoff in overview.signoffs}
    digest = ""
    if not overview.progress["blocking"]:
        digest = digest_of(deployment, rows) if rows is not None else deployment_digest(deployment)
    return {
        "progress": overview.progress,
        "sections_html": sections_html(page, sections or overview.sections, oob=oob),
        "blocking_shown": overview.blocking,
        "digest": digest,
        "role_status": [(role, signed.get(role)) for role in overview.required_roles],
        "signable_roles": [role for role in overview.missing_roles if roles.has_role(request.user, role)],
        "in_flight": overview.progress["in_flight"],
    }


def _shown(rows: list[ItemRow], page: dict) -> list[ItemRow]:
    """The rows the page's filter lets through (all of them without a filter)."""
    test = _filter_test(page["current_filter"], page["me"]) if page["current_filter"] else None
    return rows if test is None else [row for row in rows if test(row)]


def _blocks(overview: Overview, visible: list[ItemRow], options: RowOptions, *, filtered: bool) -> list[RowBlock]:
    """Sections in document order, each with its visible rows: all of them (a heading without items is a
    section too), or — `filtered` — those with a row the filter lets through, under them or in a subsection.

    Each row's view is made as the template renders it (see RowBlock).
    """
    by_section: dict[int, list[ItemRow]] = {}
    for row in visible:
        by_section.setdefault(row.item.section_id, []).append(row)
    view = partial(row_view, options=options)
    blocks = {}
    for section in overview.sections:
        rows = by_section.get(section.pk, [])
        blocks[section.pk] = RowBlock(rows=map(view, rows), count=len(rows), section=section, visible=len(rows))
    for section in reversed(overview.sections):  # children come after their parent: add theirs in, last first
        parent = blocks.get(section.parent_id)
        if parent is not None:
            parent.visible += blocks[section.pk].visible
    return [block for block in blocks.values() if block.visible or not filtered]


@require_GET
@viewer_required
def deployment_detail(request, pk: int):
    deployment = _deployment(pk)
    page = _page(request, deployment)
    part = request.GET.get("part") if request.htmx else None
    if part in ("progress", "signoff"):
        return render(request, f"{TEMPLATE}#{part}", {**page, **_panels(request, page, _overview(deployment))})
    if part == "live":
        return HttpResponse(_live_answer(request, deployment, page, item_rows(deployment, automated=True), panels=True))
    rows = item_rows(deployment)
    overview = _overview(deployment)
    visible = _shown(rows, page)
    context = {
        **page,
        **_panels(request, page, overview, rows=rows),
        "rows": rows,
        "visible": visible,
        "items_html": rows_html(page, blocks=_blocks(overview, visible, _row_options(page), filtered=bool(page["current_filter"]))),
        "automated_count": sum(1 for row in rows if row.item.probe is not None),
        "filters": [
            (key, label, sum(1 for row in rows if test(row)))
            for key, label, test in ((key, label, _filter_test(key, page["me"])) for key, (label, _) in FILTERS.items())
        ],
        "relations": deployment_relations(deployment),  # the whole page only: compare, promote, report
    }
    return render(request, TEMPLATE, context)


def _overview(deployment: Deployment) -> Overview:
    return deployment_overview(deployment, blocking_kept=BLOCKING_SHOWN)


def _in_flight(deployment: Deployment) -> int:
    """How many of the deployment's items have a probe run queued or running."""
    return deployment_summaries([deployment.pk]).get(deployment.pk, {}).get("in_flight", 0)


def _live_answer(request, deployment: Deployment, page: dict, rows: list[ItemRow], *, panels: bool) -> str:
    """The live region and `rows` swapped in out of band (those the page's filter shows); the panels too if `panels`."""
    views = _row_views(_shown(rows, page), page)
    for view in views:
        view.oob = True
    context = {**page, "rows_html": rows_html(page, rows=views), "panels": panels}
    if panels:
        context.update(_panels(request, page, _overview(deployment)))
    else:
        context["in_flight"] = _in_flight(deployment)
    return render_to_string(f"{TEMPLATE}#live_response", context, request)


def run_answer(request, deployment: Deployment, keys: list[str] | None) -> str:
    """A run request's htmx answer: the live region and the rows of the items queued (every automated one if
    `keys` is None). Queuing changes neither progress nor sign-off: the poll that follows brings the panels."""
    page = _page(request, deployment)
    if keys is None:
        rows = item_rows(deployment, automated=True)
    else:
        rows = [row for row in item_rows_with_parents(deployment, keys) if row.item.key in keys]
    return _live_answer(request, deployment, page, rows, panels=False)


def _rows_answer(request, deployment: Deployment, key: str, *, editing: bool = False, panels: bool = False) -> str:
    """The row of `key` swapped in place; its parents (they follow it) and, with `panels`, the panels out of band."""
    rows = item_rows_with_parents(deployment, [key])
    if not any(row.item.key == key for row in rows):
        raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.")
    page = _page(request, deployment)
    views = _row_views(rows, page)
    first = next(view for view in views if view.key == key)
    first.editing = editing
    others = [view for view in views if view is not first] if panels else []
    for view in others:
        view.oob = True
    context = {**page, "rows_html": rows_html(page, rows=[first, *others]), "panels": panels}
    if panels:
        overview = _overview(deployment)
        sections = overview.sections_of({row.item.section_id for row in rows})
        context.update(_panels(request, page, overview, sections=sections, oob=True))
    return render_to_string(f"{TEMPLATE}#rows_response", context, request)


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
    assigns = "assignee" in request.POST
    with transaction.atomic():
        if not assigns or any(name in request.POST for name in ("state", "note", "evidence_url")):
            item_state_set(
                deployment_id=pk,
                key=key,
                state=data["state"] or None,
                note=data["note"] if "note" in request.POST else None,
                evidence_url=data["evidence_url"] if "evidence_url" in request.POST else None,
                waiver_expires_at=data["expires_at"],
                waiver_for_days=data["for_days"],
                actor=request.user,
                source=Source.WEB,
            )
        if assigns:
            item_assign(deployment_id=pk, key=key, assignee=data["assignee"], actor=request.user, source=Source.WEB)
    if request.htmx:
        return HttpResponse(_rows_answer(request, _deployment(pk), key, panels=True))
    return redirect(_back(request, pk) + f"#item-{key}")


def _item_page(request, pk: int, key: str):
    deployment = _deployment(pk)
    editing = request.GET.get("view") != "row"
    if request.htmx:
        return HttpResponse(_rows_answer(request, deployment, key, editing=editing))
    item_url = reverse("item", args=[pk, key])
    rows = [row for row in item_rows_with_parents(deployment, [key]) if row.item.key == key]
    if not rows:
        raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.")
    page = _page(request, deployment, here=item_url)
    (view,) = _row_views(rows, page)
    view.editing = True
    context = {
        **page,
        "rows_html": rows_html(page, rows=[view]),
        "row": view,
        "section_path": rows[0].item.section_path,
        "in_flight": _in_flight(deployment),
        "item_url": item_url,
        "comments": item_comments(pk, key),
    }
    return render(request, "checklists/item.html", context)


@require_POST
@viewer_required
def waiver_approval(request, pk: int, key: str):
    """A second lead approves the item's proposed waiver."""
    waiver_approve(deployment_id=pk, key=key, actor=request.user, source=Source.WEB)
    if request.htmx:
        return HttpResponse(_rows_answer(request, _deployment(pk), key, panels=True))
    return redirect(_back(request, pk) + f"#item-{key}")


@require_POST
@viewer_required
def comment(request, pk: int, key: str):
    """Comment on the item; back to its thread."""
    form = CommentForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    comment_add(deployment_id=pk, key=key, text=form.cleaned_data["text"], actor=request.user, source=Source.WEB)
    return redirect(reverse("item", args=[pk, key]) + "#comments")


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
