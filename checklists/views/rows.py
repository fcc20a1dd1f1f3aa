"""The item rows and the section lists of the deployment page, built in Python once per row.

A deployment page has hundreds of rows (P1: 229 and 2,290 items), and every template variable and
tag costs a few microseconds per row: rendered by the template engine, the rows were three quarters
of the page's time. So each row's `<li>` is built here with f-strings — every value escaped with
`html.escape`, which is what Django's `escape` does without its lazy-string checks — and the
templates only print it (`row.html`). The note and waive forms a row opens stay a template,
`checklists/item_edit.html`. Every row carries `data-item-key`; a manual item's tick button is
named "Mark passed" (the specification's promises to the browser tests). Each section's entry in
the progress list and its heading are built here too, for the same reason.
"""

from datetime import datetime
from functools import lru_cache
from html import escape

from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from checklists.models import ItemState
from checklists.selectors import ItemRow
from checklists.templatetags.ctrlready import (
    STATE_LABELS,
    duration,
    inline_md,
    observed,
    percent,
    probe_summary,
    row_html,
    safe_url,
)

State = ItemState.State

# What a person can set a manual item to from its row, in button order: (state, label, CSS class).
MOVES = (
    (State.PASSED, "Mark passed", "btn btn-pass"),
    (State.FAILED, "Fail", "btn"),
    (State.NA, "N/A", "btn"),
    (State.PENDING, "Back to pending", "btn btn-quiet"),
)
TAG_OPTIONAL = '<span class="tag">optional</span>'
TAG_STALE = '<span class="tag tag-stale">stale</span>'
TAG_BLOCKING = '<span class="tag tag-blocking">blocks sign-off</span>'
TAG_PARENT = "<span>follows its children</span>"
CONDITIONS_HEAD = (
    '<table class="conditions"><thead><tr><th scope="col">Condition</th><th scope="col">Observed</th>'
    '<th scope="col">Result</th></tr></thead><tbody>'
)


@lru_cache(maxsize=8192)
def plain_text(text: str) -> SafeString:
    """An item's text without its Markdown, for links and lists (item texts never change).

    What `inline_md|striptags` gives: tags dropped, entities kept, so it is safe as it is.
    """
    return SafeString(strip_tags(inline_md(text)))


def stamp(moment: datetime, tz, *, seconds: bool = False) -> tuple[str, str]:
    """A `<time>`'s `datetime` and text in time zone `tz`: the `date` filter's "c" and "Y-m-d H:i[:s]"."""
    iso = moment.astimezone(tz).isoformat()
    return iso, iso[: 19 if seconds else 16].replace("T", " ")


@lru_cache(maxsize=None)
def _badge(status: str) -> str:
    """The state's badge: the same few strings on every row."""
    return f'<span class="badge badge-{escape(status)}">{escape(STATE_LABELS.get(status, status))}</span>'


def page_parts(*, page_url: str, runs_url: str, here: str, can: dict, actions: bool, csrf_token: str) -> dict:
    """What every row of one page shares, escaped once; `actions`: whether rows show their buttons."""
    hidden = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
        f'<input type="hidden" name="next" value="{escape(here)}">'
    )
    return {
        "page_url": page_url,
        "tz": timezone.get_current_timezone(),
        "can": can,
        "actions": actions,
        "hidden": hidden,
        "run_form": (
            f'<form method="post" action="{escape(runs_url)}" hx-post="{escape(runs_url)}" hx-target="#live">{hidden}'
        ),
        "note_label": "Note / waive…" if can["waive"] else "Note…",
    }


def dress_row(row: ItemRow, *, parts: dict, parent_ids: set, flying: str) -> None:
    """Work out `row.html` and what the page's filters and lists read; `parts` comes from `page_parts`."""
    item, state = row.item, row.state
    status = state.state
    tid = f"t{state.pk}"
    row.key = item.key
    row.status = status
    row.url = f"{parts['page_url']}items/{item.key}/"
    row.label = STATE_LABELS.get(status, status)
    row.parent = item.pk in parent_ids
    row.automated = item.probe is not None
    probe = probe_summary(item.probe) if row.automated else ""
    css = "item is-" + escape(status) + (" is-blocking" if row.blocking else "") + (" is-stale" if row.stale else "")
    key = escape(item.key)
    depth = f' style="--depth:{row.depth}"' if row.depth else ""
    url = escape(row.url)
    if not parts["actions"]:
        forms = None
    elif probe:
        forms = _run_form(key, tid, parts)
    elif not row.parent and (status != State.WAIVED or parts["can"]["waive"]):
        forms = _tick_form(status, url, tid, parts)
    else:
        forms = ""
    meta, details = _meta(row, probe, parts["tz"]), _details(row, probe, flying, parts["tz"])
    # The row's pieces, kept for `row_html`: the `<li>` opening tag, the item, its forms, its note link.
    row.pieces = (
        f'<li id="item-{key}" data-item-key="{key}" class="{css}"{depth}',
        f'<div class="item-main">{_badge(status)}<div class="item-body">\n'
        f'<p class="item-text" id="{tid}">{inline_md(item.text)}</p>\n'
        f'<p class="item-meta">{meta}</p>\n{details}</div></div>',
        forms,
        f'<a class="btn btn-quiet" href="{url}" hx-get="{url}" aria-describedby="{tid}">{parts["note_label"]}</a>',
    )
    row.html = row_html(row)


def _meta(row: ItemRow, probe: str, tz) -> str:
    """The line under the item's text: its tags, and who set its state when."""
    state = row.state
    html = ""
    if row.item.optional:
        html += TAG_OPTIONAL
    if probe:
        html += f'<span class="tag tag-probe">{escape(probe)}</span>'
    if row.stale:
        html += TAG_STALE
    if row.blocking:
        html += TAG_BLOCKING
    if row.parent:
        html += TAG_PARENT
    if state.updated_at:
        iso, text = stamp(state.updated_at, tz)
        who = f"{escape(row.label)} by {escape(state.updated_by_name)}"
        html += f'<span>{who}, <time datetime="{iso}">{text}</time></span>'
    carried = getattr(state, "carried", None)
    if carried is not None:
        origin = escape(reverse("deployment", args=[carried.deployment_id]))
        html += (
            f'<span class="carried">carried over from <a href="{origin}">{escape(carried.release)} in '
            f"{escape(carried.environment)}</a></span>"
        )
    return html


def _details(row: ItemRow, probe: str, flying: str, tz) -> str:
    """Below the meta line: the note, the evidence link, a run in flight, the latest probe result."""
    state = row.state
    html = ""
    if state.waiver_reason:
        html += f'<p class="waiver"><strong>Waived by {escape(state.waived_by_name)}:</strong> {escape(state.waiver_reason)}</p>\n'
    if state.note:
        html += f'<p class="note">{escape(state.note)}</p>\n'
    evidence = safe_url(state.evidence_url) if state.evidence_url else ""
    if evidence:
        html += f'<p class="evidence"><a href="{escape(evidence)}" rel="noopener noreferrer">Evidence</a></p>\n'
    if flying:
        flying = escape(flying)
        html += (
            f'<p class="run run-{flying}"><span class="spinner" aria-hidden="true"></span> '
            f"Probe <strong>{flying}</strong>…</p>\n"
        )
    if probe:
        if row.run is not None:
            html += _run(row, row.run, tz)
        elif not flying:
            html += '<p class="muted small">Not run yet.</p>\n'
    return html


def _run(row: ItemRow, run, tz) -> str:
    """The latest probe run: its outcome, when, how long it took, and every condition's observed value."""
    status = escape(run.status)
    line = f"Probe <strong>{status}</strong>"
    if run.not_configured:
        line += " — not configured"
    if run.duration_ms is not None:
        line += f" in {duration(run.duration_ms)}"
    if run.finished_at:
        iso, text = stamp(run.finished_at, tz, seconds=True)
        line += f', <time datetime="{iso}">{text}</time>'
    if row.stale:
        line += ' · <strong class="c-stale">stale</strong>'
        if row.state.last_passed_at:
            line += f": last passed {timesince(row.state.last_passed_at)} ago"
    if run.flaky:
        line += ' · <strong class="c-flaky" data-flaky="true">flaky</strong> (passed on a retry)'
    if run.details_url.startswith(("https://", "http://")):
        line += f' · <a href="{escape(run.details_url)}" rel="noopener noreferrer">CI run</a>'
    html = f'<div class="run run-{status}"><p>{line}</p>\n'
    if run.message:
        html += f'<p class="run-message">{escape(run.message)}</p>'
    if len(run.hosts) > 1:
        html += '<ul class="run-hosts">' + "".join(
            f'<li class="run-{escape(str(h.get("status", "")))}" data-host="{escape(str(h.get("host", "")))}">'
            f'<code>{escape(str(h.get("host", "")))}</code>'
            + (f' <span class="badge">{escape(str(h.get("role")))}</span>' if h.get("role") else "")
            + f' {escape(str(h.get("status", "")))}</li>'
            for h in run.hosts if isinstance(h, dict)
        ) + "</ul>"
    conditions = [condition for condition in run.conditions or [] if isinstance(condition, dict)]
    if conditions:
        html += CONDITIONS_HEAD
        for condition in conditions:
            ok = bool(condition.get("ok"))
            html += (
                f'<tr class="{"ok" if ok else "bad"}"><td><code>{escape(str(condition.get("expr", "")))}</code></td>'
                f'<td><code>{escape(observed(condition.get("observed")))}</code></td>'
                f'<td>{"held" if ok else "did not hold"}</td></tr>'
            )
        html += "</tbody></table>"
    return html + "</div>\n"


def _run_form(key: str, tid: str, parts: dict) -> str:
    """An automated item's Run button, in a form that also works without JavaScript."""
    if not parts["can"]["run"]:
        return ""
    button = f'<button class="btn" name="key" value="{key}" aria-describedby="{tid}">Run</button>'
    return f'{parts["run_form"]}{button}</form>\n'


def _tick_form(status: str, url: str, tid: str, parts: dict) -> str:
    """A manual item's buttons to set its state, in a form that also works without JavaScript."""
    buttons = " ".join(
        f'<button class="{css}" name="state" value="{value}" aria-describedby="{tid}">{label}</button>'
        for value, label, css in MOVES
        if value != status
    )
    return f'<form method="post" action="{url}" hx-post="{url}">{parts["hidden"]}{buttons}</form>\n'


def dress_section(block, *, anchor_base: str) -> None:
    """Set a section block's entry in the progress list (`nav`), its `heading` and its rows (`rows_html`)."""
    section = block.section
    title = escape(section.title)
    anchor = f"section-{section.pk}"
    done, total = block.done, block.total
    block.nav = SafeString(
        f'<li style="--depth: {block.depth}">\n'
        f'<a href="{escape(anchor_base)}#{anchor}">{title}</a>\n'
        f'<span class="muted small">{done}/{total}</span>\n'
        f'<div class="bar bar-small" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
        f'aria-valuenow="{done}" aria-label="{title}">'
        f'<span class="bar-done" style="width:{percent(done, total)}%"></span>'
        f'<span class="bar-failed" style="width:{percent(block.failed, total)}%"></span></div>\n</li>'
    )
    level = min(2 + block.depth, 6)
    optional = ' <span class="tag">optional</span>' if section.optional else ""
    block.heading = SafeString(f'<h{level} id="{anchor}" class="section-title">{title}{optional}</h{level}>')
    block.rows_html = SafeString("\n".join(row.html for row in block.rows))
