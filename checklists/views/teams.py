"""Teams: `/teams/` (every team, its services and members) and `/teams/<slug>/`, where a team's admins set roles."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.selectors import team_events, team_view, teams_overview
from checklists.views.common import signed_in
from core import roles
from core.errors import InvalidInput, NotFound
from core.models import ROLE_ORDER, Source
from core.teams import membership_remove, membership_set, team_create
from core.text import excerpt

ROLES = [role.value for role in ROLE_ORDER]


@require_http_methods(["GET", "POST"])
@signed_in
def teams(request):
    """Every team with its services and members; a site admin adds teams here."""
    if request.method == "POST":
        team = team_create(name=request.POST.get("name", ""), actor=request.user, source=Source.WEB)
        messages.success(request, f"Team {team.name} created; add its members here.")
        return redirect("team", slug=team.slug)
    return render(request, "checklists/teams.html", {
        "teams": teams_overview(request.user),
        "can_create": roles.can(request.user, "manage", team=None),
    })


@require_GET
@signed_in
def team_detail(request, slug: str):
    shown = team_view(request.user, slug)
    return render(request, "checklists/team.html", {
        "shown": shown,
        "team": shown.team,
        "roles": ROLES,
        "can_manage": roles.can(request.user, "manage", team=shown.team),
        "events": team_events(shown.team),
    })


@require_POST
@signed_in
def team_members(request, slug: str):
    """`action=set` gives `username` the `role` (adding them); `action=remove` takes them out of the team."""
    team = team_view(request.user, slug).team
    username = request.POST.get("username", "").strip()
    if not username:
        raise InvalidInput("Give the username of the person to add or change.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"There is no user `{excerpt(username)}`; they sign in once first, or a site admin creates them.")
    if request.POST.get("action") == "remove":
        membership_remove(team=team, user=user, actor=request.user, source=Source.WEB)
        messages.success(request, f"{user.get_username()} is no longer in {team.name}.")
    else:
        role = request.POST.get("role", "")
        membership_set(team=team, user=user, role=role, actor=request.user, source=Source.WEB)
        messages.success(request, f"{user.get_username()} is {role} in {team.name}.")
    return redirect("team", slug=team.slug)
