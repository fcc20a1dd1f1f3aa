"""What every app shares: the roles, where a change came from, API tokens and the history of events."""

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer"
    ENGINEER = "engineer"
    LEAD = "lead"
    ADMIN = "admin"


ROLE_ORDER = (Role.VIEWER, Role.ENGINEER, Role.LEAD, Role.ADMIN)


class Source(models.TextChoices):
    WEB = "web"
    API = "api"
    CLI = "cli"
    PROBE = "probe"


class Event(models.Model):
    """One line of append-only history.

    Names and texts are copied, and what the event describes is referred to by id rather than by a
    foreign key, so the past is not rewritten by a rename and survives the deletion of what it describes.
    """

    class Kind(models.TextChoices):
        IMPORT = "import"
        DEPLOYMENT_CREATED = "deployment_created"
        STATE = "state"
        NOTE = "note"
        WAIVE = "waive"
        PROBE_RESULT = "probe_result"
        RUN_REQUESTED = "run_requested"
        SIGNOFF = "signoff"
        SIGNED_OFF = "signed_off"
        REOPEN = "reopen"
        CARRIED = "carried"
        HOST_KEY_TRUSTED = "host_key_trusted"
        ENVIRONMENT = "environment"
        TEAM = "team"
        MEMBERSHIP = "membership"
        # What people are told about (see "Nobody waits unseen"); some are facts derived from a change
        # above (an item that failed, the last blocker cleared, a passing result gone stale).
        ASSIGNED = "assigned"
        COMMENT = "comment"
        MENTIONED = "mentioned"
        WAIVER_APPROVED = "waiver_approved"
        WAIVER_EXPIRED = "waiver_expired"
        DUE_SOON = "due_soon"
        DUE_MOVED = "due_moved"
        ITEM_FAILED = "item_failed"
        READY_FOR_SIGNOFF = "ready_for_signoff"
        STALE = "stale"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    deployment_ref = models.BigIntegerField(null=True, blank=True)
    environment_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    item_key = models.CharField(max_length=400, blank=True)
    item_text = models.TextField(blank=True)
    before = models.CharField(max_length=200, blank=True)
    after = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["deployment_ref", "at", "id"], name="event_deployment_at"),
            # A deployment's people and kinds, for the history's filters: few distinct values per
            # deployment, so PostgreSQL keeps each once per page of the index (~7 bytes an event).
            models.Index(fields=["deployment_ref", "actor_name"], name="event_deployment_actor"),
            models.Index(fields=["deployment_ref", "kind"], name="event_deployment_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.kind} {self.item_key}"


class Team(models.Model):
    """People who own services. A person's role in a team is what they may do on its services."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One person's one role in one team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_role_per_team")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} in {self.team}"


class ApiToken(models.Model):
    """A bearer token; only its sha256 is stored. It acts with its owner's roles of the moment; a `read`
    token only reads, and a token past `expires_at` no longer works."""

    class Scope(models.TextChoices):
        READ = "read"
        WRITE = "write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.WRITE)
    expires_at = models.DateTimeField(null=True, blank=True)

    def expired_at(self, now) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def usable_at(self, now) -> bool:
        """Neither expired nor its owner deactivated."""
        return not self.expired_at(now) and self.user.is_active

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
