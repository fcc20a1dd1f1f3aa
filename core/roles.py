"""Roles are Django groups that build on each other: viewer < engineer < lead < admin.

This module alone answers "may this actor do this?": every service asks `require`, every page and
template asks `can`. The system actor (probe results, the schedule, commands at the shell) may do what
the system does, and nothing a person decides: it never ticks, waives, signs off or reopens.
"""

from core.actors import is_system
from core.errors import Forbidden
from core.models import ROLE_ORDER, Role

RANK = {role.value: rank for rank, role in enumerate(ROLE_ORDER)}

ACTIONS = {
    "read": Role.VIEWER,
    "tick": Role.ENGINEER,
    "run": Role.ENGINEER,
    "waive": Role.LEAD,
    "signoff": Role.LEAD,
    "reopen": Role.LEAD,
    "subscribe": Role.LEAD,
    "manage": Role.ADMIN,
}

#: What the system actor does: read, queue re-checks, and what an operator at the shell asks of it
#: (`manage.py import_checklist`, `load_demo`). Never what a person decides: tick, waive, sign off, reopen.
SYSTEM_ACTIONS = frozenset({"read", "run", "manage"})


def user_rank(user) -> int:
    """The user's highest role as a rank; -1 for someone with no role."""
    if is_system(user):
        return -1
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return -1
    if user.is_superuser:
        return RANK[Role.ADMIN]
    cached = getattr(user, "_ctrlready_rank", None)
    if cached is None:
        names = [name for name in user.groups.values_list("name", flat=True) if name in RANK]
        cached = max((RANK[name] for name in names), default=-1)
        user._ctrlready_rank = cached
    return cached


def user_role(user) -> str | None:
    rank = user_rank(user)
    return ROLE_ORDER[rank].value if rank >= 0 else None


def has_role(user, role: str) -> bool:
    return user_rank(user) >= RANK[role]


def can(user, action: str) -> bool:
    if is_system(user):
        return action in SYSTEM_ACTIONS
    return has_role(user, ACTIONS[action])


def require(user, action: str) -> None:
    if not can(user, action):
        if is_system(user):
            raise Forbidden(f"ctrlready itself may not {action}; a person in the {ACTIONS[action]} role must.")
        raise Forbidden(f"This needs the {ACTIONS[action]} role; ask an admin to add you to it.")
