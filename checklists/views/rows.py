"""What an item row of the deployment page shows, worked out once per row, and the one template that renders it.

`RowView` is a typed presenter fed by the selector's `ItemRow`: plain values (texts, flags, times already
formatted), no markup. The row's HTML is written once, in `templates/jinja2/checklists/rows.jinja`, and
every page and htmx answer that shows a row (the page, the item page, a tick's or a run's answer) renders
it from there.

Jinja2, through Django's template backends, rather than Django's engine: a page has hundreds or thousands
of rows (SPEC P1: 229 and 2,290 items), and measured with bench/page.py (CPU time of the request, same
run) Django's engine took 48 ms for the 229-item page and ~390 ms for the 2,290 one, Jinja2 22 ms and
~130 ms — the page around the rows stays a Django template.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from django.template import engines
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from checklists.models import ItemState
from checklists.selectors import CarriedRead, ItemRow, RunRead, SectionProgress
from checklists.templatetags.ctrlready import STATE_LABELS, duration, inline_md, observed, probe_summary, safe_url

State = ItemState.State

# What a person can set a manual item to from its row, in button order: (state, label, CSS class).
MOVES = (
    (State.PASSED, "Mark passed", "btn btn-pass"),
    (State.FAILED, "Fail", "btn"),
    (State.NA, "N/A", "btn"),
    (State.PENDING, "Back to pending", "btn btn-quiet"),
)
_MOVES_FROM = {state: tuple(move for move in MOVES if move[0] != state) for state in State.values}


@dataclass(frozen=True, slots=True)
class RowOptions:
    """What every row of one answer shares: where its links go, and what the person may do there."""

    page_url: str
    tz: tzinfo
    can_run: bool
    can_waive: bool
    actions: bool  # the deployment is open and the person may tick: rows show their buttons
    username: str = ""  # who is looking: their items say "you", and offer "Take" when they are not theirs
    can_assign: bool = False  # a lead: may take an item someone else holds


def stamp(moment: datetime, tz: tzinfo, *, seconds: bool = False) -> tuple[str, str]:
    """A moment as a `<time>` shows it, in the page's time zone: its `datetime` attribute and its text."""
    iso = moment.astimezone(tz).isoformat()
    return iso, iso[: 19 if seconds else 16].replace("T", " ")


@dataclass(frozen=True, slots=True)
class ConditionView:
    expr: str
    observed: str  # for a run on several hosts, a `{host: value}` map
    ok: bool


def _conditions(conditions) -> tuple[ConditionView, ...]:
    return tuple(
        ConditionView(str(condition.get("expr", "")), observed(condition.get("observed")), bool(condition.get("ok")))
        for condition in conditions or ()
        if isinstance(condition, dict)
    )


@dataclass(frozen=True, slots=True)
class HostView:
    """One host's result of a probe that ran on several SSH hosts."""

    host: str
    role: str
    status: str
    message: str
    conditions: tuple[ConditionView, ...]


@dataclass(frozen=True, slots=True)
class RunView:
    """An item's latest probe run: its outcome, when, how long, and every condition's observed value."""

    status: str
    not_configured: bool
    duration: str
    finished_iso: str
    finished_text: str
    last_passed: str  # "3 hours" when a stale result last passed, else ""
    flaky: bool  # passed only on a retry
    details_url: str  # the CI run of a pushed result, when it is safe to follow, else ""
    message: str
    conditions: tuple[ConditionView, ...]
    hosts: tuple[HostView, ...]  # each host's result, when it ran on more than one

    @classmethod
    def of(cls, run: RunRead, *, stale: bool, last_passed_at: datetime | None, tz: tzinfo) -> "RunView":
        finished_iso, finished_text = stamp(run.finished_at, tz, seconds=True) if run.finished_at else ("", "")
        hosts = [host for host in run.hosts if isinstance(host, dict)] if len(run.hosts) > 1 else []
        return cls(
            status=run.status,
            not_configured=run.not_configured,
            duration=duration(run.duration_ms),
            finished_iso=finished_iso,
            finished_text=finished_text,
            last_passed=timesince(last_passed_at) if stale and last_passed_at else "",
            flaky=run.flaky,
            details_url=safe_url(run.details_url) if run.details_url else "",
            message=run.message,
            conditions=_conditions(run.conditions),
            hosts=tuple(
                HostView(
                    host=str(host.get("host") or ""),
                    role=str(host.get("role") or ""),
                    status=str(host.get("status") or ""),
                    message=str(host.get("message") or ""),
                    conditions=_conditions(host.get("conditions")),
                )
                for host in hosts
            ),
        )


@dataclass(frozen=True, slots=True)
class CarriedView:
    """Where a carried-over state was attested: a link to that deployment."""

    url: str
    release: str
    environment: str

    @classmethod
    def of(cls, carried: CarriedRead) -> "CarriedView":
        return cls(reverse("deployment", args=[carried.deployment_id]), carried.release, carried.environment)


@dataclass(frozen=True, slots=True)
class ConflictView:
    """A change refused because the item moved since its author looked: what happened, and what they sent
    (to apply it anyway over the state they now see)."""

    message: str
    fields: tuple[tuple[str, str], ...]  # (name, value) of the refused change: state, note, evidence_url


@dataclass(slots=True, eq=False)
class RowView:
    """One item row, as `checklists/rows.jinja` renders it."""

    key: str
    state: str
    label: str
    depth: int
    tid: str  # the id of the item's text, which names its buttons (aria-describedby)
    url: str
    text: str  # the item's inline Markdown as safe HTML
    optional: bool
    automated: bool
    parent: bool
    probe: str
    stale: bool
    blocking: bool
    by: str
    at_iso: str  # when its state was last set ("" if never), as a `<time>` shows it
    at_text: str
    carried: CarriedView | None  # where the state was attested, when it was carried over
    waived_by: str
    waiver_reason: str  # the lead's reason, kept apart from the note ("" unless waived)
    waiver_until_iso: str  # when the waiver expires ("" if it does not), as a `<time>` shows it
    waiver_until_text: str
    waiver_expired: bool  # past its expiry: the item blocks again
    waiver_proposed: bool  # waits for another lead's approval (and blocks till then)
    can_approve: bool  # the person may approve it: a lead other than the one who proposed it
    assignee: str  # the username the item waits on, or ""
    mine: bool  # …who is the person looking
    can_take: bool  # the row offers "Take"
    note: str
    evidence_url: str
    evidence: str  # the evidence link when it is safe to follow, else ""
    flying: str  # "queued" or "running" while a run is in flight
    run: RunView | None
    controls: str  # "" (none: locked or read-only), "run", "tick" or "note" (only the note link)
    moves: tuple  # the tick buttons: (state, label, CSS class)
    pickable: bool  # has a box to select it for a bulk action
    oob: bool = False  # swapped in out of band, wherever the answer lands
    editing: bool = False  # shown with its note and waive forms open
    conflict: ConflictView | None = None  # the person's change refused: the item moved since they looked

    @property
    def css(self) -> str:
        return f"item is-{self.state}" + (" is-blocking" if self.blocking else "") + (" is-stale" if self.stale else "")


def row_view(row: ItemRow, options: RowOptions) -> RowView:
    """The row of the selector's `ItemRow`, for a person whose page is described by `options`."""
    item, state = row.item, row.state
    status = state.state
    automated = item.probe is not None
    if not options.actions:
        controls = ""
    elif automated:
        controls = "run" if options.can_run else "note"
    elif not item.has_children and (status != State.WAIVED or options.can_waive):
        controls = "tick"
    else:
        controls = "note"
    run = row.run
    at_iso, at_text = stamp(state.updated_at, options.tz) if state.updated_at else ("", "")
    waived = status == State.WAIVED
    until_iso, until_text = stamp(state.waiver_expires_at, options.tz) if waived and state.waiver_expires_at else ("", "")
    proposed = waived and state.waiver_proposed
    assignee = state.assignee_name or ""
    mine = bool(assignee) and assignee == options.username
    return RowView(
        key=item.key,
        state=status,
        label=STATE_LABELS.get(status, status),
        depth=row.depth,
        tid=f"t{state.pk}",
        url=f"{options.page_url}items/{item.key}/",
        text=inline_md(item.text),
        optional=item.optional,
        automated=automated,
        parent=item.has_children,
        probe=probe_summary(item.probe) if automated else "",
        stale=row.stale,
        blocking=row.blocking,
        by=state.updated_by_name,
        at_iso=at_iso,
        at_text=at_text,
        carried=CarriedView.of(state.carried) if state.carried else None,
        waived_by=state.waived_by_name,
        waiver_reason=state.waiver_reason,
        waiver_until_iso=until_iso,
        waiver_until_text=until_text,
        waiver_expired=row.lapsed and not proposed,
        waiver_proposed=proposed,
        can_approve=proposed and options.actions and options.can_waive and state.waived_by_name != options.username,
        assignee=assignee,
        mine=mine,
        can_take=options.actions and not mine and (not assignee or options.can_assign),
        note=state.note,
        evidence_url=state.evidence_url,
        evidence=safe_url(state.evidence_url) if state.evidence_url else "",
        flying=state.run_state,
        run=RunView.of(run, stale=row.stale, last_passed_at=state.last_passed_at, tz=options.tz) if run else None,
        controls=controls,
        moves=_MOVES_FROM.get(status, MOVES) if controls == "tick" else (),
        pickable=options.actions and not item.has_children,
    )


@dataclass(slots=True, eq=False)
class RowBlock:
    """Rows rendered together: a section of the page (its heading, its rows in a list), or an answer's rows.

    `rows` may be made as they are rendered (the page's are): a page's thousands of rows then never all
    live at once, and the garbage collector has that much less to walk.
    """

    rows: Iterable[RowView]
    count: int  # how many `rows`
    section: SectionProgress | None = None
    visible: int = 1  # how many rows show under the section, its subsections' included (0: it is left out)

    @property
    def level(self) -> int:
        return min(2 + self.section.depth, 6) if self.section else 0


def rows_html(page: dict, *, rows: list[RowView] | None = None, blocks: list[RowBlock] | None = None) -> SafeString:
    """`rows` (an answer's), or the page's section `blocks`, rendered by the row template.

    `page` gives what every row shares: csrf_token, here, runs_url, note_label; for a row being edited,
    also can, page_url and history_url.
    """
    if blocks is None:
        blocks = [RowBlock(rows=rows or [], count=len(rows or []))]
    return _render("checklists/rows.jinja", {**page, "blocks": blocks})


def sections_html(page: dict, sections: list[SectionProgress], *, oob: bool = False) -> SafeString:
    """The progress list's entries of `sections` (a big checklist has hundreds); `oob`: each swapped by its id."""
    return _render("checklists/sections.jinja", {"anchor_base": page["anchor_base"], "sections": sections, "oob": oob})


def _render(name: str, context: dict) -> SafeString:
    template = engines["jinja2"].get_template(name).template
    # Autoescaping makes each printed value a `Markup` string, which Python's cycle collector tracks (a
    # str subclass), and joining a render keeps every piece alive until the end: for a page of 2,290 rows
    # some 50,000 of them, enough to set off ~75 young collections and a full one (a walk of every
    # object in the process) per page. Copied to plain strings as they come, each `Markup` is freed at
    # once and the page costs the collector nothing.
    return mark_safe("".join(map(str, template.generate(context))))
