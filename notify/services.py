"""Notifications: subscriptions, the personal setting, and sending each delivery with retries.

A delivery is claimed before each attempt with a conditional UPDATE (pending and due → leased), so a
task delivered twice, or queued by the sweep while its retry was already on its way, sends once.
Every attempt is kept (`Attempt`); the n-th retry waits about BACKOFF × 3^(n−1) seconds, with jitter.
"""

import base64
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from checklists.models import Deployment, Environment, ItemState, Service
from checklists.selectors import deployment_summaries
from core import crypto, roles
from core.actors import actor_user
from core.addresses import AddressRefused, address_refusal, is_address
from core.errors import Forbidden, InvalidInput, NotFound
from core.models import Event, Team
from core.text import excerpt
from notify import transport
from notify.kinds import KINDS
from notify.models import Attempt, Delivery, PersonalSetting, Subscription, url_shown
from notify.outbox import deliveries_queue

log = logging.getLogger(__name__)

#: While an attempt is in flight the delivery is leased this long: the sweep leaves it alone.
LEASE = timedelta(seconds=60)
#: Retries further off than this are left to the sweep rather than held by a worker as a countdown.
COUNTDOWN_MAX_SECONDS = 600
SWEEP_BATCH = 1000


# --- Who may manage what -------------------------------------------------------------


def subscription_team(subscription: Subscription) -> Team | None:
    """The team a subscription is scoped to (through its environment or service), or None: site-wide."""
    if subscription.environment_id:
        return subscription.environment.service.team
    if subscription.service_id:
        return subscription.service.team
    return subscription.team


def may_manage(actor, team: Team | None) -> bool:
    """A lead of the team manages its subscriptions; site-wide ones (no team) are an admin's."""
    if team is None:
        return roles.can(actor, "manage", team=None)
    return roles.can(actor, "subscribe", team=team)


def _require_manage(actor, team: Team | None) -> None:
    if not may_manage(actor, team):
        if team is None:
            raise Forbidden(
                "Only an admin may manage a subscription to every team's events; name a team, service or "
                "environment that you lead."
            )
        raise Forbidden(f"Only a lead of {team.name} (or an admin) may manage its subscriptions.")


# --- Subscriptions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    subscription: Subscription
    secret: str  # the webhook's signing secret, shown this once ("" for Slack and email)


def secret_new() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode("ascii")


def subscription_create(
    *,
    channel: str,
    target: str,
    events: list[str] | str | None = None,
    team: str = "",
    service: str = "",
    environment: int | None = None,
    actor,
) -> Created:
    if channel not in Subscription.Channel.values:
        raise InvalidInput(f"`channel` is one of {', '.join(Subscription.Channel.values)}.")
    target = _valid_target(channel, (target or "").strip())
    kinds = _valid_events(events)
    team_row, service_row, environment_row = _scope(team, service, environment)
    scope_team = (
        environment_row.service.team if environment_row is not None
        else service_row.team if service_row is not None else team_row
    )
    if (environment_row is not None or service_row is not None) and scope_team is None and not roles.can(actor, "manage", team=None):
        raise Forbidden("This service belongs to no team: only an admin may subscribe to it.")
    _require_manage(actor, scope_team)
    secret = secret_new() if channel == Subscription.Channel.WEBHOOK else ""
    slack = channel == Subscription.Channel.SLACK
    subscription = Subscription.objects.create(
        channel=channel, target=url_shown(target) if slack else target,
        target_encrypted=crypto.encrypt(target) if slack else "", events=kinds, team=team_row,
        service=service_row, environment=environment_row,
        secret_encrypted=crypto.encrypt(secret) if secret else "", created_by=actor_user(actor),
    )
    return Created(subscription, secret)


def _valid_target(channel: str, target: str) -> str:
    if not target:
        raise InvalidInput("Give the `target`: a URL for a webhook or Slack, an address for email.")
    if len(target) > 1000:
        raise InvalidInput("The target is longer than 1000 characters.")
    if channel == Subscription.Channel.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise InvalidInput(f"`{excerpt(target)}` is not an email address.") from None
        return target
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("The target must be a full http(s) URL, e.g. https://hooks.example.com/ctrlready.")
    try:
        parts.port
    except ValueError:
        raise InvalidInput("The target's port is not a number between 0 and 65535.") from None
    if is_address(parts.hostname):
        refusal = address_refusal(parts.hostname, allow_private=settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE)
        if refusal:
            raise InvalidInput(refusal)
    return target



def _valid_events(events) -> list[str]:
    if events in (None, "", "all", ["all"]):
        return []
    if isinstance(events, str):
        events = [events]
    unknown = [kind for kind in events if kind not in KINDS]
    if unknown:
        raise InvalidInput(f"`{excerpt(str(unknown[0]))}` is not an event kind; use `all` or some of {', '.join(KINDS)}.")
    return list(dict.fromkeys(events))


def _scope(team: str, service: str, environment: int | None):
    team_row = service_row = environment_row = None
    if team:
        team_row = Team.objects.filter(slug=team).first()
        if team_row is None:
            raise NotFound(f"There is no team `{excerpt(team)}`.")
    if service:
        service_row = Service.objects.select_related("team").filter(name=service).first()
        if service_row is None:
            raise NotFound(f"There is no service `{excerpt(service)}`.")
    if environment is not None:
        environment_row = Environment.objects.select_related("service__team").filter(pk=environment).first()
        if environment_row is None:
            raise NotFound(f"There is no environment {environment}.")
        if service_row is not None and environment_row.service_id != service_row.pk:
            raise InvalidInput(f"Environment {environment} is not one of {service_row.name}'s.")
        service_of = environment_row.service
    else:
        service_of = service_row
    if team_row is not None and service_of is not None and service_of.team_id != team_row.pk:
        raise InvalidInput(f"The service {service_of.name} is not {team_row.name}'s.")
    return team_row, service_row, environment_row


def subscription_get(*, subscription_id: int, actor) -> Subscription:
    """A subscription the actor may manage; 404 for one they may not (they need not know it exists)."""
    subscription = (
        Subscription.objects.select_related("team", "service__team", "environment__service__team")
        .filter(pk=subscription_id).first()
    )
    if subscription is None or not may_manage(actor, subscription_team(subscription)):
        raise NotFound("There is no such subscription, or it is not yours to manage.")
    return subscription


def subscription_delete(*, subscription_id: int, actor) -> None:
    subscription = subscription_get(subscription_id=subscription_id, actor=actor)
    subscription.delete()


def subscriptions_visible(actor) -> list[Subscription]:
    rows = Subscription.objects.select_related("team", "service__team", "environment__service__team", "created_by")
    return [subscription for subscription in rows if may_manage(actor, subscription_team(subscription))]


def subscription_secret(subscription: Subscription) -> str:
    return crypto.decrypt(subscription.secret_encrypted) if subscription.secret_encrypted else ""


def subscription_url(subscription: Subscription) -> str:
    """Where a webhook or Slack subscription is sent; a Slack URL is decrypted only now, to send."""
    if subscription.channel == Subscription.Channel.SLACK:
        return crypto.decrypt(subscription.target_encrypted)
    return subscription.target


def subscription_secrets_rotate() -> int:
    """Re-encrypt webhook secrets and Slack URLs with the first key (a `CTRLREADY_SECRET_ROTATORS` entry)."""
    rotated = 0
    for subscription in Subscription.objects.exclude(secret_encrypted="", target_encrypted="").iterator():
        try:
            fields = {
                name: crypto.rotate(getattr(subscription, name))
                for name in ("secret_encrypted", "target_encrypted") if getattr(subscription, name)
            }
        except crypto.SecretUnreadable:
            log.warning("The secrets of subscription %s cannot be decrypted; left as they are.", subscription.pk)
            continue
        Subscription.objects.filter(pk=subscription.pk).update(**fields)
        rotated += len(fields)
    return rotated


# --- The personal setting ------------------------------------------------------------------


def personal_email_enabled(user) -> bool:
    setting = PersonalSetting.objects.filter(user=user).first()
    return setting.email if setting is not None else True


def personal_email_set(*, user, enabled: bool) -> None:
    """Whether `assigned` and `mentioned` reach this person by email."""
    PersonalSetting.objects.update_or_create(user=user, defaults={"email": enabled})


# --- Deliveries --------------------------------------------------------------------------


def delivery_redeliver(*, delivery_id, actor) -> Delivery:
    """Send a delivery again, with a fresh round of attempts and the same id (receivers drop duplicates)."""
    delivery = Delivery.objects.select_related(
        "subscription__team", "subscription__service__team", "subscription__environment__service__team"
    ).filter(pk=delivery_id).first()
    allowed = delivery is not None and (
        may_manage(actor, subscription_team(delivery.subscription)) if delivery.subscription_id
        else delivery.recipient_id == getattr(actor, "pk", None) or roles.can(actor, "manage", team=None)
    )
    if not allowed:
        raise NotFound("There is no such delivery, or it is not yours to send again.")
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.PENDING, tries=0, next_at=timezone.now(), last_error=""
        )
        transaction.on_commit(lambda: deliveries_queue([str(delivery.pk)]), robust=True)
    delivery.refresh_from_db()
    return delivery


def backoff_seconds(tries: int) -> float:
    """How long after its `tries`-th failed attempt (this round) a delivery is tried again."""
    base = float(settings.CTRLREADY_DELIVERY_BACKOFF_SECONDS) * 3 ** max(tries - 1, 0)
    return base * random.uniform(0.8, 1.2)


@dataclass
class Outcome:
    delivered: bool
    code: int | None = None
    error: str = ""
    final: bool = False  # refused for good (a private address): no retry
    duration_ms: int = 0


def delivery_attempt(delivery_id) -> Outcome | None:
    """Claim the delivery if it is pending and due, send it once, record the attempt, schedule a retry."""
    now = timezone.now()
    if not Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_at__lte=now).update(
        next_at=now + LEASE
    ):
        return None  # delivered, failed for good, not due yet, or another worker has it
    delivery = Delivery.objects.select_related("subscription", "recipient", "event").get(pk=delivery_id)
    if not delivery.payload:
        delivery.payload = payload_json(delivery)
    started = time.perf_counter()
    try:
        outcome = _send(delivery)
    except AddressRefused as error:
        outcome = Outcome(False, error=str(error), final=True)
    except crypto.SecretUnreadable as error:
        outcome = Outcome(False, error=str(error))
    except Exception as error:  # noqa: BLE001 - every failure is an outcome, kept with the attempt
        outcome = Outcome(False, error=_describe(error))
    outcome.duration_ms = int((time.perf_counter() - started) * 1000)
    retry_in = _record(delivery, outcome)
    if retry_in is not None and retry_in <= COUNTDOWN_MAX_SECONDS:
        deliveries_queue([str(delivery.pk)], countdown=retry_in)
    return outcome


def _record(delivery: Delivery, outcome: Outcome) -> float | None:
    """Keep the attempt and where the delivery stands; returns the seconds until its retry, if any."""
    now = timezone.now()
    delivery.attempts += 1
    delivery.tries += 1
    delivery.last_code = outcome.code
    delivery.last_error = outcome.error[:2000]
    retry_in = None
    if outcome.delivered:
        delivery.status, delivery.delivered_at = Delivery.Status.DELIVERED, now
    elif outcome.final or delivery.tries >= settings.CTRLREADY_DELIVERY_ATTEMPTS:
        delivery.status = Delivery.Status.FAILED
    else:
        retry_in = backoff_seconds(delivery.tries)
        delivery.next_at = now + timedelta(seconds=retry_in)
    with transaction.atomic():
        Attempt.objects.create(
            delivery=delivery, number=delivery.attempts, code=outcome.code, error=delivery.last_error,
            duration_ms=outcome.duration_ms,
        )
        delivery.save(update_fields=[
            "attempts", "tries", "last_code", "last_error", "status", "delivered_at", "next_at", "payload",
        ])
    log.info(
        "notification %s: %s", "delivered" if outcome.delivered else "failed",
        delivery.kind, extra={"delivery": str(delivery.pk), "attempt": delivery.attempts, "code": outcome.code},
    )
    return retry_in


def _describe(error: Exception) -> str:
    """What went wrong, never the error's own message: httpx's names the URL, and a Slack URL is a credential."""
    if isinstance(error, httpx.TimeoutException):
        return f"No answer within {transport.TIMEOUT_SECONDS:g} s."
    if isinstance(error, httpx.ConnectError):
        return "The receiver could not be reached (connection refused or failed)."
    if isinstance(error, httpx.HTTPError):
        return f"The request failed: {type(error).__name__}."
    if isinstance(error, OSError):
        return f"Sending failed: {type(error).__name__} {getattr(error, 'strerror', '') or ''}".strip()
    return f"Sending failed: {type(error).__name__}."


def deliveries_sweep(*, now=None, grace_seconds: float = 10) -> int:
    """Beat: queue the pending deliveries that are due and were not picked up (the broker was down)."""
    now = now or timezone.now()
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_at__lte=now - timedelta(seconds=grace_seconds))
        .order_by("next_at").values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return deliveries_queue([str(pk) for pk in due])


# --- What is sent ----------------------------------------------------------------------------


def site_url(path: str) -> str:
    return settings.CTRLREADY_SITE_URL.rstrip("/") + path


def payload(delivery: Delivery) -> dict:
    """The document receivers get (SPEC "Webhooks"), as it stands when it is first sent."""
    event = delivery.event
    deployment_out = item_out = None
    deployment = None
    if event.deployment_ref:
        deployment = (
            Deployment.objects.select_related("environment__service").filter(pk=event.deployment_ref).first()
        )
    if deployment is not None:
        progress = deployment_summaries([deployment.pk])[deployment.pk]
        deployment_out = {
            "id": deployment.pk,
            "url": site_url(f"/deployments/{deployment.pk}/"),
            "release": deployment.release,
            "service": deployment.environment.service.name,
            "environment": deployment.environment.name,
            "status": deployment.status,
            "progress": {key: progress[key] for key in ("total", "passed", "failed", "pending", "waived", "na", "blocking")},
        }
        if event.item_key:
            state = (
                ItemState.objects.filter(deployment=deployment, item__key=event.item_key)
                .values_list("state", flat=True).first()
            )
            item_out = {"key": event.item_key, "text": event.item_text, "state": state}
    elif event.item_key:
        item_out = {"key": event.item_key, "text": event.item_text, "state": None}
    return {
        "event": delivery.kind,
        "delivery": str(delivery.pk),
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "text": text_of(delivery.kind, event, deployment),
        "actor": event.actor_name,
        "deployment": deployment_out,
        "item": item_out,
    }


def payload_json(delivery: Delivery) -> str:
    return json.dumps(payload(delivery), ensure_ascii=False, separators=(",", ":"))


def text_of(kind: str, event: Event, deployment: Deployment | None) -> str:
    """One sentence a person reads in Slack or an email subject."""
    where = (
        f"{deployment.environment.service.name} {deployment.release} in {deployment.environment.name}"
        if deployment is not None else "ctrlready"
    )
    item = f"“{excerpt(event.item_text or event.item_key, 120)}”"
    user = event.data.get("user", "") if isinstance(event.data, dict) else ""
    note = f": {excerpt(event.note, 300)}" if event.note else ""
    texts = {
        "item_failed": f"{item} failed in {where}{note}",
        "ready_for_signoff": f"{where} is ready for sign-off: nothing blocks it any more.",
        "signed_off": f"{where} is signed off (by {event.actor_name}).",
        "reopened": f"{where} was reopened by {event.actor_name}{note}",
        "stale": f"{item} in {where} went stale: its passing result is too old and blocks until it passes again.",
        "waiver_expired": f"The waiver of {item} in {where} expired: it blocks again.",
        "due_soon": f"{where} is due soon and something still blocks it{note}",
        "mentioned": f"{event.actor_name} mentioned {user} on {item} in {where}{note}",
        "comment": f"{event.actor_name} commented on {item} in {where}{note}",
        "assigned": f"{item} in {where} is now assigned to {user or 'nobody'} (by {event.actor_name}).",
    }
    return texts.get(kind, f"{kind} in {where}{note}")


def _send(delivery: Delivery) -> Outcome:
    if delivery.subscription_id is None:
        return _send_email(delivery, delivery.recipient.email)
    subscription = delivery.subscription
    if subscription.channel == Subscription.Channel.EMAIL:
        return _send_email(delivery, subscription.target)
    if subscription.channel == Subscription.Channel.SLACK:
        document = json.loads(delivery.payload)
        link = document["deployment"]["url"] if document.get("deployment") else site_url("/")
        body = json.dumps({
            "text": document["text"],
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{_slack_escape(document['text'])}\n<{link}|Open in ctrlready>"}},
            ],
        })
        return _post(subscription_url(subscription), body, {"Content-Type": "application/json"})
    return _post(subscription_url(subscription), delivery.payload, _signed_headers(delivery, subscription))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _signed_headers(delivery: Delivery, subscription: Subscription) -> dict:
    """Standard Webhooks headers for these exact bytes: `webhook-id` is the delivery's id, on every attempt."""
    msg_id = str(delivery.pk)
    at = timezone.now().replace(microsecond=0)
    signature = Webhook(subscription_secret(subscription)).sign(msg_id=msg_id, timestamp=at, data=delivery.payload)
    return {
        "Content-Type": "application/json",
        "User-Agent": "ctrlready-webhooks",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "X-Ctrlready-Event": delivery.kind,
    }


def _post(url: str, body: str, headers: dict) -> Outcome:
    client = transport.client(allow_private=settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE)
    response = client.post(url, content=body.encode("utf-8"), headers=headers)
    response.close()
    if 200 <= response.status_code < 300:
        return Outcome(True, code=response.status_code)
    return Outcome(False, code=response.status_code, error=f"The receiver answered {response.status_code}.")


def _send_email(delivery: Delivery, address: str) -> Outcome:
    document = json.loads(delivery.payload)
    link = document["deployment"]["url"] if document.get("deployment") else site_url("/")
    subject = excerpt(document["text"].splitlines()[0] if document["text"] else delivery.kind, 150)
    body = f"{document['text']}\n\n{link}\n\n— ctrlready ({delivery.kind}; change what reaches you at {site_url('/notifications/')})\n"
    message = EmailMessage(subject=f"[ctrlready] {subject}", body=body, to=[address],
                           headers={"X-Ctrlready-Event": delivery.kind, "X-Ctrlready-Delivery": str(delivery.pk)})
    sent = message.send(fail_silently=False)
    if sent:
        return Outcome(True)
    return Outcome(False, error="The mail server accepted nothing.")

