"""Roles are Django groups that build on each other: viewer < engineer < lead < admin."""

from checklists.errors import Forbidden
from checklists.models import ROLE_ORDER, Role

RANK = {role.value: rank for rank, role in enumerate(ROLE_ORDER)}

ACTIONS = {
    "read": Role.VIEWER,
    "tick": Role.ENGINEER,
    "run": Role.ENGINEER,
    "waive": Role.LEAD,
    "signoff": Role.LEAD,
    "reopen": Role.LEAD,
    "manage": Role.ADMIN,
}


def user_rank(user) -> int:
    """The user's highest role as a rank; -1 for someone with no role."""
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
    return has_role(user, ACTIONS[action])


def require(user, action: str) -> None:
    needed = ACTIONS[action]
    if not has_role(user, needed):
        raise Forbidden(f"This needs the {needed} role; ask an admin to add you to it.")
