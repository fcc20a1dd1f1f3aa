"""JSON API for teams: the directory of teams, their services and members; site admins add teams, a team's
admins set its members' roles."""

from django.contrib.auth import get_user_model
from ninja import Field, Router, Schema, Status

from checklists.selectors import TeamView, team_view, teams_overview
from core.errors import NotFound
from core.models import Role, Source
from core.teams import membership_remove, membership_set, team_create
from core.text import excerpt

router = Router()


class ErrorOut(Schema):
    error: str


def _errors(*codes: int) -> dict:
    return {code: ErrorOut for code in codes}


class MemberOut(Schema):
    username: str
    role: str


class TeamOut(Schema):
    slug: str
    name: str
    services: list[str] = Field(description="The team's services you may read (all of them if you are in it).")
    members: list[MemberOut]


class TeamListOut(Schema):
    teams: list[TeamOut]


class TeamIn(Schema):
    name: str = Field(..., max_length=100, description="Its slug is Django's `slugify` of the name.")


class MembershipIn(Schema):
    role: Role


class MembershipOut(Schema):
    team: str
    username: str
    role: str


def _team_out(shown: TeamView) -> dict:
    return {
        "slug": shown.team.slug,
        "name": shown.team.name,
        "services": [service.name for service in shown.services],
        "members": [{"username": m.user.get_username(), "role": m.role} for m in shown.members],
    }


def _user(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"There is no user `{excerpt(username)}`; they sign in once first, or a site admin creates them.")
    return user


@router.get("teams", response={200: TeamListOut, **_errors(401)})
def team_list(request):
    """Every team with its members and roles, and those of its services you may read."""
    return {"teams": [_team_out(shown) for shown in teams_overview(request.auth)]}


@router.post("teams", response={201: TeamOut, **_errors(400, 401, 403, 409)})
def team_add(request, payload: TeamIn):
    """Create a team (site admins)."""
    team = team_create(name=payload.name, actor=request.auth, source=Source.API)
    return Status(201, _team_out(team_view(request.auth, team.slug)))


@router.put("teams/{slug}/members/{username}", response={200: MembershipOut, **_errors(400, 401, 403, 404, 409)})
def member_set(request, slug: str, username: str, payload: MembershipIn):
    """Give a person a role in the team, adding them if they are not in it (the team's admins, site admins)."""
    team = team_view(request.auth, slug).team
    membership = membership_set(
        team=team, user=_user(username), role=str(payload.role), actor=request.auth, source=Source.API
    )
    return {"team": team.slug, "username": membership.user.get_username(), "role": membership.role}


@router.delete("teams/{slug}/members/{username}", response={204: None, **_errors(401, 403, 404, 409)})
def member_remove(request, slug: str, username: str):
    """Take a person out of the team (the team's admins, site admins)."""
    team = team_view(request.auth, slug).team
    membership_remove(team=team, user=_user(username), actor=request.auth, source=Source.API)
    return Status(204, None)
