"""Who makes a change: a person (a Django user), or the system itself.

Probe results, the schedule's re-checks and sweeps act as `SYSTEM`, explicitly: no service takes
`None` to mean "the system", and the roles module alone decides what the system may do.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemActor:
    """ctrlready itself: recorded as "system", never a row in the users table."""

    name: str = "system"
    pk = None
    id = None
    is_authenticated = True
    is_active = True
    is_superuser = False

    def get_username(self) -> str:
        return self.name


SYSTEM = SystemActor()


def is_system(actor) -> bool:
    return isinstance(actor, SystemActor)


def actor_name(actor) -> str:
    """The name history keeps for `actor`."""
    return actor.get_username()


def actor_user(actor):
    """The user row to point at, or None for the system."""
    return None if is_system(actor) else actor
