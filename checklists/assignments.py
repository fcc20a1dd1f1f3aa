"""Who an item waits on: a person takes it, or a lead names someone (see SPEC, "assignee").

The rules, written once for the pages and the API:

- anyone who may tick there (engineer and up in the team that owns the service) takes an item — assigns it to themselves — and may hand back an
  item that is theirs; an item someone else holds is theirs until they or a lead hand it over;
- a lead there assigns anyone who may read the deployment (in its team, or site-wide), or nobody;
- nothing changes in a signed-off deployment.

Each change appends one `assigned` event; `data.user` names the new assignee (None when nobody is).
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from checklists.items import _lock_open_deployment
from checklists.models import ItemState
from core import roles
from core.actors import actor_name
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.events import event_append
from core.models import Event
from core.text import excerpt


def item_assign(*, deployment_id: int, key: str, assignee: str | None, actor, source: str) -> ItemState:
    """Assign the item `key` to the user named `assignee`, or to nobody (None or "")."""
    assignee = (assignee or "").strip() or None
    me = actor_name(actor)
    with transaction.atomic():
        deployment = _lock_open_deployment(deployment_id, actor=actor, action="tick")
        team = deployment.owner_team_id
        item_state = (
            ItemState.objects.select_for_update(of=("self",)).select_related("item", "assignee")
            .filter(deployment=deployment, item__key=key).first()
        )
        if item_state is None:
            raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.")
        current = item_state.assignee_name
        if assignee == current:
            return item_state
        if not roles.can(actor, "assign", team=team):
            if assignee not in (None, me):
                raise Forbidden("Only a lead assigns an item to someone else; you can take it yourself.")
            if current is not None and current != me:
                raise Conflict(f"This item is assigned to {current}; ask them or a lead to hand it over.")
        user = None
        if assignee is not None:
            user = get_user_model().objects.filter(username=assignee, is_active=True).first()
            if user is None:
                raise NotFound(f"There is no user `{excerpt(assignee)}`: give the username of someone who can log in.")
            if not roles.can(user, "read", team=team):
                raise InvalidInput(
                    f"{assignee} may not read this deployment, so it cannot wait on them: "
                    "ask an admin to give them a role first."
                )
        item_state.assignee = user
        item_state.deployment = deployment  # the answer reads its team from it
        item_state.save(update_fields=["assignee"])
        event_append(
            kind=Event.Kind.ASSIGNED, source=source, actor=actor, deployment=deployment, item=item_state.item,
            before=current or "", after=assignee or "",
            note=("Took it." if assignee == me else f"Assigned to {assignee}.") if assignee else "Nobody is assigned now.",
            data={"user": assignee, "before": current},
        )
    return item_state
