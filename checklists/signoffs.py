"""Signing a deployment off, role by role, against the state its signers saw; and reopening it."""


from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checklists.items import _lock_open_deployment
from checklists.models import Deployment, SignOff
from checklists.selectors import deployment_snapshot
from core import roles
from core.actors import actor_name, actor_user
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.events import event_append
from core.models import Event
from core.text import excerpt


class DigestMoved(Conflict):
    """A sign-off of a state that is no longer the deployment's."""


def signoff_record(*, deployment_id: int, role: str, digest: str, comment: str = "", actor, source: str) -> SignOff:
    comment = (comment or "").strip()
    with transaction.atomic():
        deployment = _lock_open_deployment(deployment_id, actor=actor, action="signoff")
        required = deployment.version.required_roles or ["lead"]
        if role not in required or role not in roles.RANK:
            raise InvalidInput(f"This deployment needs sign-off by: {', '.join(required)}; `{excerpt(role)}` is not one of them.")
        if not roles.has_role(actor, role, team=deployment.owner_team_id):
            raise Forbidden(f"You are not in the {role} role, so you cannot sign for it.")
        snapshot = deployment_snapshot(deployment)
        if snapshot.blocking:
            raise Conflict(
                f"{len(snapshot.blocking)} item(s) still block sign-off; finish, waive or mark them n/a first.",
                blocking=[row.item.key for row in snapshot.blocking],
            )
        if digest != snapshot.digest:
            raise DigestMoved("The deployment changed since you looked at it; review it again and sign the current state.")
        if deployment.signoffs.filter(role=role, voided_at__isnull=True).exists():
            raise Conflict(f"The {role} role has already signed off this deployment.")
        if settings.CTRLREADY_PREVENT_SELF_SIGNOFF and _only_person_who_ticked(deployment, actor):
            raise Forbidden("You ticked every item yourself; someone else must sign off.")
        signoff = SignOff.objects.create(
            deployment=deployment, user=actor_user(actor), username=actor_name(actor), role=role, comment=comment, digest=digest
        )
        event_append(kind=Event.Kind.SIGNOFF, source=source, actor=actor, deployment=deployment, after=role, note=comment)
        signed_roles = set(deployment.signoffs.filter(voided_at__isnull=True).values_list("role", flat=True))
        if set(required) <= signed_roles:
            deployment.status = Deployment.Status.SIGNED_OFF
            deployment.signed_off_at = timezone.now()
            deployment.save(update_fields=["status", "signed_off_at"])
            event_append(
                kind=Event.Kind.SIGNED_OFF, source=source, actor=actor, deployment=deployment,
                before=Deployment.Status.OPEN, after=Deployment.Status.SIGNED_OFF,
            )
    return signoff


def _only_person_who_ticked(deployment: Deployment, actor) -> bool:
    people = set(
        deployment.states.exclude(updated_by__isnull=True).values_list("updated_by_id", flat=True).distinct()
    )
    return people == {actor.pk}


def deployment_reopen(*, deployment_id: int, reason: str, actor, source: str) -> Deployment:
    reason = (reason or "").strip()
    with transaction.atomic():
        deployment = (
            Deployment.objects.select_for_update(of=("self",))
            .select_related("environment__service")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None:
            raise NotFound("This deployment does not exist.")
        roles.require(actor, "reopen", team=deployment.owner_team_id)
        if not reason:
            raise InvalidInput("Say why the deployment is reopened: a reason is required.")
        if deployment.status != Deployment.Status.SIGNED_OFF:
            raise Conflict("Only a signed-off deployment can be reopened.")
        voided = deployment.signoffs.filter(voided_at__isnull=True).update(voided_at=timezone.now())
        deployment.status = Deployment.Status.OPEN
        deployment.signed_off_at = None
        deployment.save(update_fields=["status", "signed_off_at"])
        event_append(
            kind=Event.Kind.REOPEN, source=source, actor=actor, deployment=deployment,
            before=Deployment.Status.SIGNED_OFF, after=Deployment.Status.OPEN, note=reason,
            data={"voided_signoffs": voided},
        )
    return deployment
