"""Appending to the history: one function every service calls, so every event has the same shape.

Other apps hear what is appended through a port: `CTRLREADY_EVENT_LISTENERS` names functions (dotted
paths, like middleware) called with each batch of new events inside the transaction that writes them, so
what a listener writes (a notification, say) commits or rolls back with them. core imports no listener:
the settings wire them, so imports keep running one way (core ← the apps).
"""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from core.actors import actor_name, actor_user
from core.live import live_touch
from core.models import Event

#: Events after which every row of a deployment's open pages changes (its lock).
WHOLE_PAGE = frozenset({Event.Kind.SIGNED_OFF, Event.Kind.REOPEN, Event.Kind.DUE_MOVED})


@cache
def _listeners(paths: tuple[str, ...]) -> tuple:
    return tuple(import_string(path) for path in paths)


def _appended(events: list[Event]) -> None:
    for listener in _listeners(tuple(getattr(settings, "CTRLREADY_EVENT_LISTENERS", ()))):
        listener(events)


def event_append(
    *,
    kind: str,
    source: str,
    actor,
    deployment=None,
    environment=None,
    item=None,
    before: str = "",
    after: str = "",
    note: str = "",
    data: dict | None = None,
) -> Event:
    """Append one line of history; `environment` is for changes to an environment itself."""
    event = Event.objects.create(**event_fields(
        kind=kind, source=source, actor=actor, deployment=deployment, environment=environment, item=item,
        before=before, after=after, note=note, data=data,
    ))
    _appended([event])
    return event


def events_append(events: list[Event]) -> list[Event]:
    """Append many events (built with `event_fields`) in one statement."""
    if not events:
        return []
    events = Event.objects.bulk_create(events)
    _appended(events)
    return events


def event_fields(
    *,
    kind: str,
    source: str,
    actor,
    deployment=None,
    environment=None,
    item=None,
    before: str = "",
    after: str = "",
    note: str = "",
    data: dict | None = None,
) -> dict:
    """The columns of one event, for callers that write many at once with `events_append`.

    A deployment's event tells its open pages, once the transaction commits, which item changed (see core.live).
    """
    if deployment is not None:
        live_touch(deployment.pk, [item.key] if item is not None else (), everything=kind in WHOLE_PAGE)
        environment_ref = deployment.environment_id
    else:
        environment_ref = environment.pk if environment is not None else None
    return {
        "kind": kind,
        "source": source,
        "actor": actor_user(actor),
        "actor_name": actor_name(actor),
        "deployment_ref": deployment.pk if deployment is not None else None,
        "environment_ref": environment_ref,
        "item_key": item.key if item is not None else "",
        "item_text": item.text if item is not None else "",
        "before": before,
        "after": after,
        "note": note,
        "data": data or {},
    }
