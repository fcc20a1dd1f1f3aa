"""The service page, `/services/<id>/`: the service across its deployments, as server-drawn SVG charts."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from checklists.charts import bar_chart, column_chart, short
from checklists.environments import service_team_set
from checklists.reports import plain
from checklists.selectors import TRENDS_DEPLOYMENTS, service_for, service_trends
from checklists.views.common import signed_in
from core import roles
from core.errors import InvalidInput
from core.models import Source, Team
from core.text import excerpt


def _hours(hours: float) -> str:
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


@require_POST
@signed_in
def service_team(request, pk: int):
    """A site admin gives the service to a team (`team`: a slug; empty for none)."""
    service = service_for(request.user, pk)
    slug = request.POST.get("team", "").strip()
    team = Team.objects.filter(slug=slug).first() if slug else None
    if slug and team is None:
        raise InvalidInput(f"There is no team `{excerpt(slug)}`; see /teams/.")
    service_team_set(service=service, team=team, actor=request.user, source=Source.WEB)
    messages.success(request, f"{service.name} now belongs to {team.name if team else 'no team'}.")
    return redirect("service", pk=pk)


@require_GET
@signed_in
def service_detail(request, pk: int):
    service = service_for(request.user, pk)
    trends = service_trends(service)
    chronological = list(reversed(trends.deployments))
    signed = [d for d in chronological if d.hours_to_signoff is not None]
    for d in signed:
        d.took = _hours(d.hours_to_signoff)
    signoff_chart = column_chart([
        (d.release, d.hours_to_signoff, _hours(d.hours_to_signoff), "ok") for d in signed
    ])
    blockers = [(short(plain(t.text), 44), t.count, str(t.count), "bad") for t in trends.blockers]
    flaky = [(short(plain(t.text), 44), t.count, str(t.count), "warn") for t in trends.flaky]
    waived = [(d, (d.summary or {}).get("waived", 0)) for d in chronological]
    waiver_chart = column_chart([
        (d.release, count, str(count), "warn") for d, count in waived
    ], height=180)
    return render(request, "checklists/service.html", {
        "service": service,
        "trends": trends,
        "window": TRENDS_DEPLOYMENTS,
        "signed": signed,
        "signoff_chart": signoff_chart,
        "blocker_chart": bar_chart(blockers),
        "flaky_chart": bar_chart(flaky),
        "waived": waived,
        "waiver_chart": waiver_chart,
        "teams": Team.objects.order_by("name") if roles.can(request.user, "manage", team=None) else None,
    })
