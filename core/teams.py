"""Teams and who is in them: a site admin makes teams, a team's admins (and site admins) set its members' roles.

Every change appends an event (`team`, `membership`) naming the actor, and the role before and after.
Single sign-on maps identity-provider groups to memberships through these same functions.
"""

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from core import roles
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.events import event_append
from core.models import Event, Membership, Role, Team
from core.text import excerpt


def team_create(*, name: str, actor, source: str) -> Team:
    """A new team; its slug is Django's `slugify` of the name. Site admins only."""
    if not roles.can(actor, "manage", team=None):
        raise Forbidden("Only a site admin may create a team.")
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("Give the team a name, e.g. `Platform`.")
    if len(name) > 100:
        raise InvalidInput("A team's name is at most 100 characters.")
    slug = slugify(name)[:100]
    if not slug:
        raise InvalidInput(f"“{excerpt(name)}” gives no address: use letters or digits in the name.")
    taken = Conflict(f"A team named “{excerpt(name)}” (or at `{slug}`) already exists; choose another name.")
    if Team.objects.filter(slug=slug).exists() or Team.objects.filter(name__iexact=name).exists():
        raise taken
    try:
        with transaction.atomic():
            team = Team.objects.create(slug=slug, name=name)
            event_append(
                kind=Event.Kind.TEAM, source=source, actor=actor, after="created",
                note=f"Created team {name}.", data={"team": slug},
            )
    except IntegrityError:  # created by someone else a moment ago
        raise taken from None
    return team


def _require_team_admin(actor, team: Team) -> None:
    """Teams are listed to everyone signed in, so a refusal here is a 403, never a 404."""
    if not roles.can(actor, "manage", team=team):
        raise Forbidden(f"Only an admin of {team.name} (or a site admin) may change its members.")


def _require_role(role) -> None:
    if role not in Role.values:
        raise InvalidInput(f"`{excerpt(str(role))}` is not a role; use one of {', '.join(Role.values)}.")


def _keep_an_admin(*, team: Team, user, actor, leaving: bool) -> None:
    """Refuse to take away the team's last admin, unless a site admin does it (who can still manage the team).

    Within the caller's transaction: the team's row is locked, so two admins demoting each other at the same
    moment are taken one after the other, and the second is refused.
    """
    Team.objects.select_for_update().filter(pk=team.pk).first()
    if not leaving or roles.can(actor, "manage", team=None):
        return
    admins = Membership.objects.filter(team=team, role=Role.ADMIN)
    if admins.filter(user=user).exists() and not admins.exclude(user=user).exists():
        raise Conflict(
            f"{excerpt(user.get_username())} is the last admin of {team.name}; make someone else its admin first "
            "(or ask a site admin), or nobody could manage its members."
        )


def membership_set(*, team: Team, user, role: str, actor, source: str) -> Membership:
    """Give `user` the role `role` in `team` (adding them if they are not in it); one event if anything changed.

    The team's last admin cannot be given another role, except by a site admin."""
    _require_team_admin(actor, team)
    _require_role(role)
    with transaction.atomic():
        _keep_an_admin(team=team, user=user, actor=actor, leaving=role != Role.ADMIN)
        return membership_write(team=team, user=user, role=role, actor=actor, source=source)


def membership_write(*, team: Team, user, role: str, actor, source: str, note: str = "") -> Membership:
    """`membership_set` without asking who may: only for single sign-on (core/sso.py), whose authority is the
    identity provider's word about the person signing in, who is the actor. Every other caller uses
    `membership_set`. `note` replaces the event's sentence."""
    _require_role(role)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
        before = membership.role if membership else ""
        if membership is None:
            membership = Membership.objects.create(team=team, user=user, role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        if before != role:
            event_append(
                kind=Event.Kind.MEMBERSHIP, source=source, actor=actor, before=before, after=role,
                note=note or f"{user.get_username()} is {role} in {team.name}" + (f" (was {before})." if before else "."),
                data={"team": team.slug, "user": user.get_username()},
            )
    roles.forget(user)
    return membership


def membership_remove(*, team: Team, user, actor, source: str) -> None:
    """Take `user` out of `team`; one event with the role they had. Not the last admin, except by a site admin."""
    _require_team_admin(actor, team)
    with transaction.atomic():
        _keep_an_admin(team=team, user=user, actor=actor, leaving=True)
        membership_delete(team=team, user=user, actor=actor, source=source)


def membership_delete(*, team: Team, user, actor, source: str, note: str = "") -> None:
    """`membership_remove` without asking who may: only for single sign-on, as `membership_write`."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
        if membership is None:
            raise NotFound(f"{excerpt(user.get_username())} is not a member of {team.name}.")
        membership.delete()
        event_append(
            kind=Event.Kind.MEMBERSHIP, source=source, actor=actor, before=membership.role, after="",
            note=note or f"{user.get_username()} left {team.name} (was {membership.role}).",
            data={"team": team.slug, "user": user.get_username()},
        )
    roles.forget(user)
