"""Single sign-on's roles: what the identity provider's roles claim grants, and a person's roles brought in
line with it at every sign-in.

A value `ctrlready:<team>:<role>` grants `role` in the team whose slug is `<team>`; `ctrlready:*:<role>`
grants the site-wide role (the Django group). Anything else in the claim is someone else's and ignored.
Where several values name one team (or the site), the highest role wins: a person has one role per team.
The provider is the source of truth for the people who sign in through it: whatever role the claim no
longer gives is taken away at their next sign-in, site-wide groups and team memberships alike.

A team the claim names but ctrlready does not have is not created: teams own services, and an admin makes
them here (a typo in the provider must not make a team). Such a value is logged and otherwise ignored.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.db import transaction

from core import roles
from core.events import event_append
from core.models import Event, Membership, Source, Team
from core.roles import RANK
from core.teams import membership_delete, membership_write

logger = logging.getLogger(__name__)

PREFIX = "ctrlready"
SITE = "*"
NOTE = "single sign-on"


@dataclass(frozen=True)
class WantedRoles:
    """What the claim grants: the site-wide role (or None) and a role per team slug."""

    site: str | None = None
    teams: dict[str, str] = field(default_factory=dict)


def _higher(current: str | None, role: str) -> str:
    return role if current is None or RANK[role] > RANK[current] else current


def roles_from_claims(claims: Mapping, *, claim: str = "groups") -> WantedRoles:
    """The roles the claim `claim` of an ID token or userinfo answer grants. Pure: reads nothing else.

    The claim may be a list of strings or one string (some providers send a single group that way).
    """
    values = claims.get(claim) or []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        return WantedRoles()
    site: str | None = None
    teams: dict[str, str] = {}
    for value in values:
        if not isinstance(value, str):
            continue
        parts = value.strip().split(":")
        if len(parts) != 3 or parts[0] != PREFIX:
            continue
        _, team, role = parts
        role = role.strip().lower()
        team = team.strip()
        if role not in RANK or not team:
            continue
        if team == SITE:
            site = _higher(site, role)
        else:
            teams[team] = _higher(teams.get(team), role)
    return WantedRoles(site=site, teams=teams)


def _record_site(*, user, before: str, after: str) -> None:
    event_append(
        kind=Event.Kind.MEMBERSHIP, source=Source.WEB, actor=user, before=before, after=after, note=NOTE,
        data={"team": SITE, "user": user.get_username()},
    )


@transaction.atomic
def sso_roles_sync(*, user, wanted: WantedRoles) -> None:
    """Give `user` exactly the roles `wanted` names (in the teams that exist), one event per change, made by
    the person signing in. Called at every single sign-on."""
    # Site-wide: the one group the claim names, none of the others.
    current = set(user.groups.filter(name__in=RANK).values_list("name", flat=True))
    keep = {wanted.site} if wanted.site else set()
    for name in sorted(current - keep):
        user.groups.remove(Group.objects.get(name=name))
    for name in sorted(keep - current):
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    if current != keep:
        _record_site(user=user, before=",".join(sorted(current)), after=",".join(sorted(keep)))

    # Teams: a membership per team the claim names and ctrlready has; the rest go. The writes (and their
    # events) are core/teams.py's; the authority is the provider's, so no team admin is asked.
    teams = {team.slug: team for team in Team.objects.filter(slug__in=wanted.teams)}
    unknown = sorted(set(wanted.teams) - set(teams))
    if unknown:
        logger.warning("Single sign-on names teams ctrlready does not have (ignored): %s", ", ".join(unknown))
    memberships = {m.team.slug: m for m in Membership.objects.filter(user=user).select_related("team")}
    for slug, membership in memberships.items():
        if slug not in teams:
            membership_delete(team=membership.team, user=user, actor=user, source=Source.WEB, note=NOTE)
    for slug, team in teams.items():
        membership = memberships.get(slug)
        if membership is None or membership.role != wanted.teams[slug]:
            membership_write(team=team, user=user, role=wanted.teams[slug], actor=user, source=Source.WEB, note=NOTE)
    roles.forget(user)
