"""What waits on a person (the `/me/` page): items assigned to them, and deployments waiting for a sign-off
in a role they hold — across every team, only what they may read, soonest due first.

Four queries whatever the number of deployments and items: the items, the open deployments, their live
sign-offs, their progress.
"""

from dataclasses import dataclass

from django.db.models import F

from checklists.models import Deployment, ItemState, SignOff
from checklists.selectors import deployment_summaries, item_row, required_roles
from core import roles

#: At most this many of each list (a person with more has a different problem).
SHOWN = 200


@dataclass
class WaitingItem:
    state: ItemState
    deployment: Deployment
    blocking: bool


@dataclass
class WaitingDeployment:
    deployment: Deployment
    roles: list[str]  # the required roles not signed yet that the person holds
    progress: dict


@dataclass
class Waiting:
    items: list[WaitingItem]
    signoffs: list[WaitingDeployment]


def _due_order(deployment: Deployment) -> tuple:
    """Soonest due first; those without a due time after, newest first."""
    if deployment.due_at is None:
        return (1, 0, -deployment.pk)
    return (0, deployment.due_at.timestamp(), -deployment.pk)


def waiting_on(user) -> Waiting:
    states = list(
        ItemState.objects.filter(assignee=user, deployment__status=Deployment.Status.OPEN)
        .filter(roles.readable_q(user, "deployment__environment__service__team"))
        .select_related("item", "deployment__environment__service", "deployment__version__checklist", "assignee")
        .order_by(F("deployment__due_at").asc(nulls_last=True), "-deployment_id", "item__position")[:SHOWN]
    )
    items = [WaitingItem(state=state, deployment=state.deployment, blocking=item_row(state).blocking) for state in states]
    open_deployments = list(
        Deployment.objects.filter(status=Deployment.Status.OPEN)
        .filter(roles.readable_q(user, "environment__service__team"))
        .select_related("environment__service", "version__checklist")
        .order_by(F("due_at").asc(nulls_last=True), "-id")[:SHOWN]
    )
    signed: dict[int, set[str]] = {}
    for deployment_id, role in SignOff.objects.filter(
        deployment__in=[d.pk for d in open_deployments], voided_at__isnull=True
    ).values_list("deployment_id", "role"):
        signed.setdefault(deployment_id, set()).add(role)
    waiting = []
    for deployment in open_deployments:
        mine = [
            role for role in required_roles(deployment)
            if role not in signed.get(deployment.pk, set()) and role in roles.RANK
            and roles.has_role(user, role, team=deployment.owner_team_id)
        ]
        if mine:
            waiting.append((deployment, mine))
    summaries = deployment_summaries([deployment.pk for deployment, _ in waiting])
    return Waiting(
        items=sorted(items, key=lambda entry: _due_order(entry.deployment)),
        signoffs=[WaitingDeployment(deployment, mine, summaries[deployment.pk]) for deployment, mine in waiting],
    )
