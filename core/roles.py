"""Who may do what, and where: the one place that answers "may this person do this on this team's thing?".

Roles build on each other: viewer < engineer < lead < admin. A person holds them two ways:

- per team (a `Membership`): that role on the team's services, their environments and deployments;
- site-wide (the Django groups of the same names, or superuser): that role everywhere, for the few who need it.

Every question names the team it is about, as a required keyword: `can(actor, "tick", team=...)` with
`team` a Team, a team's id, None (a service that belongs to no team: only site-wide roles reach it) or
`ANY` (something every team shares, such as checklists: the person's best role anywhere counts).

`require` refuses with the status SPEC asks for: 403 (Forbidden) where the person may read the thing but
not do this, 404 (NotFound) where they may not even read it, so its existence is not given away.

A person's roles cost one query per request, whatever is asked: site groups and memberships are read
together (one UNION) and kept on the user object. The system actor may do what the system does and
nothing a person decides: it never ticks, waives, signs off or reopens.
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.db.models import IntegerField, Q, Value

from core.actors import is_system
from core.errors import Forbidden, NotFound
from core.models import ROLE_ORDER, Membership, Role, Team

RANK = {role.value: rank for rank, role in enumerate(ROLE_ORDER)}
NO_ROLE = -1

ACTIONS = {
    "read": Role.VIEWER,
    "tick": Role.ENGINEER,
    "run": Role.ENGINEER,
    "comment": Role.ENGINEER,
    "assign": Role.LEAD,  # someone else: anyone may take an item who may tick it
    "waive": Role.LEAD,
    "signoff": Role.LEAD,
    "reopen": Role.LEAD,
    "subscribe": Role.LEAD,
    "manage": Role.ADMIN,
}

#: What the system actor does: read, queue re-checks, and what an operator at the shell asks of it
#: (`manage.py import_checklist`, `load_demo`, `create_api_token`). Never what a person decides.
SYSTEM_ACTIONS = frozenset({"read", "run", "manage"})

NOT_VISIBLE = "There is nothing here you may see: it does not exist, or it belongs to a team you are not in."


class _Any:
    """`team=ANY`: something every team shares (checklists); the person's best role anywhere counts."""

    def __repr__(self) -> str:
        return "roles.ANY"


ANY = _Any()

#: What `readable_teams` answers for someone who reads every team (a site-wide role, or the system).
ALL = None

CACHE = "_ctrlready_grants"


@dataclass(frozen=True)
class Grants:
    """A person's roles: site-wide (a rank) and per team (team id → rank)."""

    site: int = NO_ROLE
    teams: dict[int, int] = field(default_factory=dict)

    def rank(self, team) -> int:
        if team is ANY:
            return max([self.site, *self.teams.values()])
        team_id = _team_id(team)
        if team_id is None:
            return self.site
        return max(self.site, self.teams.get(team_id, NO_ROLE))


NOBODY = Grants()


def _team_id(team) -> int | None:
    if team is None:
        return None
    if isinstance(team, Team):
        return team.pk
    if isinstance(team, bool) or not isinstance(team, int):
        raise TypeError(f"`team` is a Team, a team id, None or roles.ANY, not {team!r}.")
    return team


def grants(user) -> Grants:
    """The person's roles, read once (one query) and kept on the user object for the rest of the request."""
    if is_system(user) or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOBODY
    cached = getattr(user, CACHE, None)
    if cached is not None:
        return cached
    if user.is_superuser:
        loaded = Grants(site=RANK[Role.ADMIN])  # everything everywhere: no need to read further
    else:
        loaded = grants_from_rows(_rows(user))
    setattr(user, CACHE, loaded)
    return loaded


def _rows(user) -> list[tuple[str, int | None]]:
    site = (
        Group.objects.filter(user=user, name__in=list(RANK))
        .annotate(team=Value(None, output_field=IntegerField()))
        .order_by()
        .values_list("name", "team")
    )
    teams = Membership.objects.filter(user=user).order_by().values_list("role", "team_id")
    return list(site.union(teams, all=True))


def grants_from_rows(rows) -> Grants:
    """Grants from (role, team id or None for site-wide) pairs; for callers that read them with something else."""
    site, teams = NO_ROLE, {}
    for role, team_id in rows:
        rank = RANK.get(role, NO_ROLE)
        if team_id is None:
            site = max(site, rank)
        else:
            teams[team_id] = max(teams.get(team_id, NO_ROLE), rank)
    return Grants(site=site, teams=teams)


def forget(user) -> None:
    """Drop the roles kept on `user` (after its memberships or groups changed)."""
    if hasattr(user, CACHE):
        delattr(user, CACHE)


def user_rank(user, *, team) -> int:
    """The person's role on `team` as a rank; -1 for no role there."""
    return grants(user).rank(team)


def user_role(user, *, team) -> str | None:
    rank = user_rank(user, team=team)
    return ROLE_ORDER[rank].value if rank >= 0 else None


def has_role(user, role: str, *, team) -> bool:
    return user_rank(user, team=team) >= RANK[role]


def can(user, action: str, *, team) -> bool:
    """May `user` do `action` on a thing of `team`?"""
    if is_system(user):
        if team is not ANY:
            _team_id(team)  # the same mistakes are refused for everyone
        return action in SYSTEM_ACTIONS
    return has_role(user, ACTIONS[action], team=team)


def require(user, action: str, *, team) -> None:
    """Refuse unless `user` may do `action` on a thing of `team`: 404 if they may not even read it, else 403."""
    if can(user, action, team=team):
        return
    needed = ACTIONS[action]
    if is_system(user):
        raise Forbidden(f"ctrlready itself may not {action}; a person in the {needed} role must.")
    if team is ANY:
        raise Forbidden(f"This needs the {needed} role; ask an admin to add you to it.")
    if not can(user, "read", team=team):
        raise NotFound(NOT_VISIBLE)
    if _team_id(team) is None:
        raise Forbidden(f"This needs the {needed} role (site-wide: what it belongs to has no team); ask a site admin.")
    raise Forbidden(f"This needs the {needed} role in the team that owns it; ask that team's admin.")


# --- Lists ------------------------------------------------------------------------


def readable_teams(user) -> frozenset[int] | None:
    """The ids of the teams whose things `user` may read, or `ALL` (None) for someone who reads everything."""
    if is_system(user):
        return ALL
    held = grants(user)
    if held.site >= RANK[Role.VIEWER]:
        return ALL
    return frozenset(team_id for team_id, rank in held.teams.items() if rank >= RANK[Role.VIEWER])


def managed_teams(user) -> frozenset[int] | None:
    """The ids of the teams `user` administers, or `ALL` (None) for a site admin."""
    if is_system(user):
        return ALL
    held = grants(user)
    if held.site >= RANK[Role.ADMIN]:
        return ALL
    return frozenset(team_id for team_id, rank in held.teams.items() if rank >= RANK[Role.ADMIN])


def readable_q(user, team_field: str) -> Q:
    """A filter keeping the rows `user` may read, `team_field` being the path to their team's id
    (e.g. `environment__service__team`). A row whose team is NULL is kept only for site-wide readers."""
    teams = readable_teams(user)
    if teams is ALL:
        return Q()
    return Q(**{f"{team_field}__in": sorted(teams)})
