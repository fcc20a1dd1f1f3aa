"""Who hears about what (subscriptions), each person's own choice, and every delivery with its attempts."""

import uuid

from django.conf import settings
from django.db import models


def url_shown(url: str) -> str:
    """What is kept in clear of a Slack incoming-webhook URL (a credential): its scheme and host."""
    head, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{head}://{host}/…"


class Subscription(models.Model):
    """A webhook, a Slack incoming webhook or an email address that hears about some kinds of events.

    Filters narrow it: a team, a service, an environment (each optional). No kinds listed: every kind.
    """

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        SLACK = "slack"
        EMAIL = "email"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    #: The URL or address, as shown; for Slack only `url_shown()` of it: the whole URL is `target_encrypted`.
    target = models.CharField(max_length=1000)
    #: Slack's incoming-webhook URL, encrypted with CTRLREADY_SECRET_KEYS (Slack only).
    target_encrypted = models.TextField(blank=True)
    #: Event kinds as notified (`reopened`, not `reopen`); empty: all of them.
    events = models.JSONField(default=list, blank=True)
    team = models.ForeignKey("core.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey("checklists.Service", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(
        "checklists.Environment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    #: The signing secret `whsec_…`, encrypted with CTRLREADY_SECRET_KEYS (webhooks only).
    secret_encrypted = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.channel} → {self.target}"


class PersonalSetting(models.Model):
    """One person's choice about notifications addressed to them (`assigned`, `mentioned`)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_setting")
    email = models.BooleanField(default=True)


class Delivery(models.Model):
    """One notification of one event to one receiver, and where sending it stands.

    Its id is the `webhook-id` receivers see: the same on every attempt, so they can drop duplicates.
    Written in the transaction of its event (the outbox); sent after commit.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    #: A personal notification (no subscription): the person it is for, by email.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey("core.Event", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    #: Attempts since it was last (re)queued by a person: the retry schedule counts these.
    tries = models.PositiveIntegerField(default=0)
    last_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    #: When it is next due (pending); while an attempt is in flight, a lease that keeps the sweep off it.
    next_at = models.DateTimeField()
    #: The exact JSON sent, fixed at the first attempt so every retry sends the same document.
    payload = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_at"], name="delivery_due"),
            models.Index(fields=["subscription", "-created_at"], name="delivery_subscription"),
        ]


class Attempt(models.Model):
    """One try at sending a delivery, kept with what came of it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")]
