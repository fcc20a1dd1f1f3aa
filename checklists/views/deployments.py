"""The deployment page: its items, live probe results and the sign-off panel, and what people do there.

The whole page reads every row; an htmx answer reads only what it shows: a tick's answer the rows it
changed and their parents, and the panels (progress, sign-off) out of band, from the deployment's overview.
"""

import hashlib
from contextlib import nullcontext
from functools import partial

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.assignments import item_assign
from checklists.comments import comment_add, item_comments
from checklists.deployments import deployment_due_set
from checklists.forms import CommentForm, DueForm, ItemsBulkForm, ItemStateForm, ReopenForm, SignOffForm
from checklists.items import ItemMoved, ItemsRefused, item_state_set, items_bulk_set, waiver_approve
from checklists.models import Deployment, ItemState
from checklists.selectors import (
    ItemRow,
    Overview,
    deployment_digest,
    deployment_events_since,
    deployment_for,
    deployment_overview,
    deployment_relations,
    deployment_summaries,
    digest_of,
    item_rows,
    item_rows_with_parents,
)
from checklists.signoffs import DigestMoved, deployment_reopen, signoff_record
from checklists.templatetags.ctrlready import STATE_LABELS, plain_md
from checklists.views.common import form_error, next_url, permissions, signed_in
from checklists.views.rows import (
    ConflictView,
    RowBlock,
    RowOptions,
    RowView,
    row_view,
    rows_html,
    sections_html,
)
from core import roles
from core.errors import DomainError, NotFound
from core.live import live_answer, live_changes, live_version
from core.models import Source
from core.text import excerpt

State = ItemState.State
TEMPLATE = "checklists/deployment.html"
OPEN_STATES = (State.PENDING, State.FAILED)
BLOCKING_SHOWN = 25


def _needs_human(row: ItemRow) -> bool:
    item = row.item
    return item.probe is None and not item.has_children and row.state.state in OPEN_STATES


# The page's filters (`?show=`), each a test of the selector's row, and the overview's count of the same rows.
FILTER_COUNTS = {
    "human": "human", "failing": "failed", "blocking": "blocking", "stale": "stale", "optional": "optional", "mine": "mine",
}
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



def _deployment(request, pk: int) -> Deployment:
    return deployment_for(request.user, pk)


def _page(request, deployment: Deployment, *, here: str | None = None) -> dict:
    """What the page and each of its answers share: addresses, the filter, what the person may do there.

    `here` is where the row forms come back to (their `next`): this page, with its filter, by default.
    """
    current = request.GET.get("show", "")
    if current not in FILTERS:
        current = ""
    search = " ".join(request.GET.get("q", "").split())[:100]
    url = reverse("deployment", args=[deployment.pk])
    params = {key: value for key, value in (("show", current), ("q", search)) if value}
    query = f"?{urlencode(params)}" if params else ""
    can = permissions(request.user, team=deployment.owner_team_id)
    live = not deployment.locked
    return {
        "csrf_token": get_token(request),  # one token for every form of the answer, the rows' included
        "deployment": deployment,
        "environment": deployment.environment,
        "version": deployment.version,
        "current_filter": current,
        "search": search,  # words the item's text must contain
        "filtered": bool(current or search),
        "page_url": url,
        "here": here or url + query,
        "me": request.user.get_username(),
        "anchor_base": url + query if params else "",  # where links to a section or an item point
        "part_url": f"{url}{query}{'&' if query else '?'}part=",
        "runs_url": reverse("deployment-runs", args=[deployment.pk]) + query,
        "bulk_url": reverse("deployment-items", args=[deployment.pk]),
        "looked_at": timezone.now().isoformat(),  # a refused sign-off lists what happened since
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
        "signable_roles": [
            role for role in overview.missing_roles
            if roles.has_role(request.user, role, team=deployment.owner_team_id)
        ],
        "in_flight": overview.progress["in_flight"],
    }


def _shown(rows: list[ItemRow], page: dict) -> list[ItemRow]:
    """The rows the page's filter lets through (all of them without a filter)."""
    test = _filter_test(page["current_filter"], page["me"]) if page["current_filter"] else None
    if test is not None:
        rows = [row for row in rows if test(row)]
    if page["search"]:
        words = page["search"].casefold().split()
        rows = [row for row in rows if all(word in row.item.text.casefold() for word in words)]
    return rows


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
@signed_in
def deployment_detail(request, pk: int):
    deployment = _deployment(request, pk)
    page = _page(request, deployment)
    part = request.GET.get("part") if request.htmx else None
    if part in ("progress", "signoff"):
        return render(request, f"{TEMPLATE}#{part}", {**page, **_panels(request, page, _overview(deployment, request.user))})
    if part == "changes":
        return _changes_answer(request, deployment, page)
    return render(request, TEMPLATE, _page_context(request, deployment, page, since=live_version(deployment.pk)))


def _page_context(request, deployment: Deployment, page: dict, *, since: int) -> dict:
    """Everything the whole page shows; `since` is the live version read before anything else (see core.live)."""
    rows = item_rows(deployment)
    overview = _overview(deployment, request.user)
    visible = _shown(rows, page)
    return {
        **page,
        **_panels(request, page, overview, rows=rows),
        **_live(page, overview.progress, since=since),
        "rows": rows,
        "visible": visible,
        "items_html": rows_html(page, blocks=_blocks(overview, visible, _row_options(page), filtered=page["filtered"])),
        "automated_count": sum(1 for row in rows if row.item.probe is not None),
        "filters": [
            (key, label, sum(1 for row in rows if test(row)))
            for key, label, test in ((key, label, _filter_test(key, page["me"])) for key, (label, _) in FILTERS.items())
        ],
        "relations": deployment_relations(deployment),  # the whole page only: compare, promote, report
    }


def _int(value, default: int = 0) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default


def _live(page: dict, progress: dict, *, since: int, batch: int = 0, failed_before: int | None = None) -> dict:
    """The live region: the poll that asks for changes after `since`, and how far the runs in flight are.

    While runs are in flight the poll carries the size of the batch (the most seen in flight at once) and
    the failures before it, so the page can count down ("41 of 83 done, 3 new failures") without any state
    kept on the server.
    """
    in_flight = progress.get("in_flight", 0)
    failed_before = progress["failed"] if failed_before is None else failed_before
    batch = max(batch, in_flight) if in_flight else 0
    url = f"{page['part_url']}changes&since={since}"
    if in_flight:
        url += f"&batch={batch}&failed={failed_before}"
    return {
        "live_url": url,
        "live_since": since,
        "in_flight": in_flight,
        "batch": batch if batch > in_flight else 0,
        "batch_done": batch - in_flight,
        "new_failures": max(progress["failed"] - failed_before, 0),
    }


def _filter_counts(progress: dict) -> list[tuple[str, str, int]]:
    return [(key, label, progress.get(FILTER_COUNTS[key], 0)) for key, (label, _) in FILTERS.items()]


def _announcement(rows: list[ItemRow]) -> str:
    """A sentence for screen readers about what others changed (the page's `aria-live` region)."""
    lines = [
        f"{plain_md(row.item.text)[:80]}: {STATE_LABELS.get(row.state.state, row.state.state).lower()}"
        + (f" ({row.state.updated_by_name})" if row.state.updated_by_name else "")
        for row in rows[:3]
    ]
    more = f", and {len(rows) - 3} more" if len(rows) > 3 else ""
    return ("Changed by others: " + "; ".join(lines) + more + ".") if lines else ""


def _changes_answer(request, deployment: Deployment, page: dict) -> HttpResponse:
    """The poll's answer: 204 when nothing changed since the page's version (one Redis read, no item read);
    else the changed rows and the panels out of band — or, when everything changed (the lock), the page's body."""
    since = _int(request.GET.get("since"))
    changes = live_changes(deployment.pk, since)
    if changes.none:
        return HttpResponse(status=204)
    if changes.everything:
        context = _page_context(request, deployment, page, since=changes.version)
        response = render(request, f"{TEMPLATE}#page_body", context)
        response["HX-Retarget"] = "#deployment-page"
        response["HX-Reswap"] = "outerHTML"
        return response
    # Pages that ask the same (the same version, filter and search, what their person may do there) share one
    # rendering of the answer; it carries no CSRF token of its own (htmx sends the page's in a header).
    team = deployment.owner_team_id
    signs = [roles.has_role(request.user, role, team=team) for role in (deployment.version.required_roles or ["lead"])]
    # The person is part of it too: the chips count the items assigned to them.
    variant = repr((changes.version, request.GET.urlencode(), sorted(page["can"].items()), signs, request.user.pk))
    variant = hashlib.sha256(variant.encode()).hexdigest()[:32]
    return HttpResponse(live_answer(deployment.pk, variant, lambda: _changes_body(request, deployment, page, changes)))


def _changes_body(request, deployment: Deployment, page: dict, changes) -> str:
    page = {**page, "csrf_token": ""}
    overview = _overview(deployment, request.user)
    rows = [row for row in item_rows_with_parents(deployment, changes.keys) if row.item.key in changes.keys or row.item.has_children]
    views = _row_views(_shown(rows, page), page)
    for view in views:
        view.oob = True
    failed = request.GET.get("failed")
    context = {
        **page,
        **_panels(request, page, overview, sections=overview.sections_of({row.item.section_id for row in rows}), oob=True),
        **_live(page, overview.progress, since=changes.version, batch=_int(request.GET.get("batch")),
                failed_before=_int(failed) if failed is not None else None),
        "rows_html": rows_html(page, rows=views),
        "filters": _filter_counts(overview.progress),
        "announcement": _announcement([row for row in rows if row.item.key in changes.keys]),
    }
    return render_to_string(f"{TEMPLATE}#changes_response", context, request)


def _overview(deployment: Deployment, user) -> Overview:
    """The deployment's overview; `mine` counts the items assigned to `user`."""
    return deployment_overview(deployment, blocking_kept=BLOCKING_SHOWN, assignee_id=user.pk)


def _in_flight(deployment: Deployment) -> int:
    """How many of the deployment's items have a probe run queued or running."""
    return deployment_summaries([deployment.pk]).get(deployment.pk, {}).get("in_flight", 0)


def run_answer(request, deployment: Deployment, keys: list[str] | None) -> str:
    """A run request's htmx answer: the live region (still asking for changes after the page's version, which
    the form sends as `since`) and the rows of the items queued (every automated one if `keys` is None).
    Queuing changes neither progress nor sign-off."""
    page = _page(request, deployment)
    if keys is None:
        rows = item_rows(deployment, automated=True)
    else:
        rows = [row for row in item_rows_with_parents(deployment, keys) if row.item.key in keys]
    views = _row_views(_shown(rows, page), page)
    for view in views:
        view.oob = True
    progress = deployment_summaries([deployment.pk])[deployment.pk]
    context = {
        **page,
        **_live(page, progress, since=_int(request.POST.get("since"))),
        "rows_html": rows_html(page, rows=views),
    }
    return render_to_string(f"{TEMPLATE}#live_response", context, request)


def _rows_answer(
    request, deployment: Deployment, key: str, *, editing: bool = False, panels: bool = False,
    conflict: ConflictView | None = None,
) -> str:
    """The row of `key` swapped in place (with `conflict`: the person's change refused, inside it); its parents
    (they follow it) and, with `panels`, the panels out of band."""
    rows = item_rows_with_parents(deployment, [key])
    if not any(row.item.key == key for row in rows):
        raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.")
    page = _page(request, deployment)
    views = _row_views(rows, page)
    first = next(view for view in views if view.key == key)
    first.editing = editing
    first.conflict = conflict
    others = [view for view in views if view is not first] if panels else []
    for view in others:
        view.oob = True
    context = {**page, "rows_html": rows_html(page, rows=[first, *others]), "panels": panels}
    if panels:
        overview = _overview(deployment, request.user)
        sections = overview.sections_of({row.item.section_id for row in rows})
        context.update(_panels(request, page, overview, sections=sections, oob=True))
        context["filters"] = _filter_counts(overview.progress)
        row = next(row for row in rows if row.item.key == key)
        context["announcement"] = f"{plain_md(row.item.text)[:80]}: {STATE_LABELS.get(row.state.state, row.state.state)}."
    return render_to_string(f"{TEMPLATE}#rows_response", context, request)


@require_http_methods(["GET", "POST"])
@signed_in
def item(request, pk: int, key: str):
    """GET: the item with its note and waive forms. POST: set its state, note or evidence link."""
    if request.method == "GET":
        return _item_page(request, pk, key)
    form = ItemStateForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    data = form.cleaned_data
    assigns = "assignee" in request.POST
    changes_state = not assigns or any(name in request.POST for name in ("state", "note", "evidence_url"))
    try:
        # One transaction for both changes; a lone change is already one (and a savepoint would cost a tick two queries).
        with transaction.atomic() if changes_state and assigns else nullcontext():
            if changes_state:
                item_state = item_state_set(
                    deployment_id=pk,
                    key=key,
                    state=data["state"] or None,
                    note=data["note"] if "note" in request.POST else None,
                    evidence_url=data["evidence_url"] if "evidence_url" in request.POST else None,
                    waiver_expires_at=data["expires_at"],
                    waiver_for_days=data["for_days"],
                    seen=data["seen"] or None,
                    actor=request.user,
                    source=Source.WEB,
                )
            if assigns:
                item_state = item_assign(
                    deployment_id=pk, key=key, assignee=data["assignee"], actor=request.user, source=Source.WEB
                )
    except ItemMoved as moved:
        if not request.htmx:
            raise
        sent = tuple((name, request.POST[name]) for name in ("state", "note", "evidence_url") if name in request.POST)
        conflict = ConflictView(moved.message, sent)
        return HttpResponse(_rows_answer(request, _deployment(request, pk), key, conflict=conflict))
    if request.htmx:
        return HttpResponse(_rows_answer(request, item_state.deployment, key, panels=True))  # the tick checked its team
    return redirect(_back(request, pk) + f"#item-{key}")


@require_POST
@signed_in
def items_bulk(request, pk: int):
    """Set the rows picked on the page to one state with one note (a waiver's reason): all of them, or — if
    any is refused — none, the refusal naming each item inside the bulk bar."""
    form = ItemsBulkForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    picked = form.picked()
    state = form.cleaned_data["state"]
    try:
        changed = items_bulk_set(
            deployment_id=pk, keys=list(picked), state=state, note=form.cleaned_data["note"].strip() or None,
            seen=picked, actor=request.user, source=Source.WEB,
        )
    except ItemsRefused as refused:
        if not request.htmx:
            raise
        return render(request, f"{TEMPLATE}#bulk_refused", {"error": refused, "page_url": reverse("deployment", args=[pk])})
    label = STATE_LABELS.get(state, state).lower()
    done = f"{len(changed)} item{'s' if len(changed) != 1 else ''} set to {label}."
    if not request.htmx:
        messages.success(request, done)
        return redirect(_back(request, pk))
    deployment = _deployment(request, pk)
    page = _page(request, deployment)
    keys = {item_state.item.key for item_state in changed}
    rows = item_rows_with_parents(deployment, keys)
    views = _row_views(_shown(rows, page), page)
    for view in views:
        view.oob = True
    overview = _overview(deployment, request.user)
    context = {
        **page,
        **_panels(request, page, overview, sections=overview.sections_of({row.item.section_id for row in rows}), oob=True),
        "rows_html": rows_html(page, rows=views),
        "filters": _filter_counts(overview.progress),
        "done": done,
    }
    return HttpResponse(render_to_string(f"{TEMPLATE}#bulk_response", context, request))


def _item_page(request, pk: int, key: str):
    deployment = _deployment(request, pk)
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
@signed_in
def waiver_approval(request, pk: int, key: str):
    """A second lead approves the item's proposed waiver."""
    waiver_approve(deployment_id=pk, key=key, actor=request.user, source=Source.WEB)
    if request.htmx:
        return HttpResponse(_rows_answer(request, _deployment(request, pk), key, panels=True))
    return redirect(_back(request, pk) + f"#item-{key}")


@require_POST
@signed_in
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
@signed_in
def signoff(request, pk: int):
    """Sign off for a role. Over htmx a refusal is answered inside the sign-off panel: what blocks (item texts
    and links) or, for a digest that moved, what happened since the signer looked; success swaps the page."""
    form = SignOffForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    data = form.cleaned_data
    try:
        signoff_record(
            deployment_id=pk, role=data["role"], digest=data["digest"], comment=data["comment"].strip(),
            actor=request.user, source=Source.WEB,
        )
    except DomainError as error:
        if not request.htmx:
            raise
        return _signoff_refused(request, pk, error, looked_at=data.get("looked_at"))
    deployment = _deployment(request, pk)
    if request.htmx:
        page = _page(request, deployment)
        response = render(request, f"{TEMPLATE}#page_body", _page_context(request, deployment, page, since=live_version(pk)))
        response["HX-Retarget"] = "#deployment-page"
        response["HX-Reswap"] = "outerHTML"
        return response
    if deployment.status == Deployment.Status.SIGNED_OFF:
        messages.success(request, "Signed off: the deployment is now locked.")
    else:
        messages.success(request, f"Your {data['role']} sign-off is recorded; other roles still need to sign.")
    return redirect("deployment", pk=pk)


def _signoff_refused(request, pk: int, error: DomainError, *, looked_at) -> HttpResponse:
    """The sign-off panel as it is now, with the refusal inside it."""
    deployment = _deployment(request, pk)
    page = _page(request, deployment)
    overview = _overview(deployment, request.user)
    since = deployment_events_since(pk, looked_at) if looked_at and isinstance(error, DigestMoved) else []
    context = {
        **page,
        **_panels(request, page, overview),
        "refusal": error.message,
        "refused_blocking": bool(error.extra.get("blocking")),
        "events_since": since,
    }
    return render(request, f"{TEMPLATE}#signoff", context)


@require_POST
@signed_in
def due(request, pk: int):
    """Move the planned go-live, or clear it (an empty time)."""
    form = DueForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    moved = deployment_due_set(deployment_id=pk, due_at=form.cleaned_data["due_at"], actor=request.user, source=Source.WEB)
    messages.success(request, f"Due {moved.due_at:%Y-%m-%d %H:%M} UTC." if moved.due_at else "No due time any more.")
    return redirect("deployment", pk=pk)


@require_POST
@signed_in
def reopen(request, pk: int):
    form = ReopenForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    deployment_reopen(deployment_id=pk, reason=form.cleaned_data["reason"], actor=request.user, source=Source.WEB)
    messages.success(request, "Reopened: the sign-offs are void and items can change again.")
    return redirect("deployment", pk=pk)
