"""Which events become notifications, and the name each is notified under."""

from core.models import Event

K = Event.Kind

#: History kind → the kind receivers see (a `reopen` is notified as `reopened`).
NOTIFIED = {
    K.ITEM_FAILED: "item_failed",
    K.READY_FOR_SIGNOFF: "ready_for_signoff",
    K.SIGNED_OFF: "signed_off",
    K.REOPEN: "reopened",
    K.STALE: "stale",
    K.WAIVER_EXPIRED: "waiver_expired",
    K.DUE_SOON: "due_soon",
    K.MENTIONED: "mentioned",
    K.COMMENT: "comment",
    K.ASSIGNED: "assigned",
}
KINDS = tuple(NOTIFIED.values())
#: Kinds about one person (`data["user"]`): they hear of it by email too, unless they switched that off.
PERSONAL = frozenset({"assigned", "mentioned"})
