"""Checklists, their immutable versions, deployments against them and their history."""

from django.conf import settings
from django.db import models
from django.db.models import Q


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


class Checklist(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChecklistVersion(models.Model):
    """An immutable snapshot made by one import.  Nothing updates it afterwards."""

    checklist = models.ForeignKey(Checklist, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    source = models.TextField()
    sha256 = models.CharField(max_length=64)
    required_roles = models.JSONField(default=list)
    counts = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["checklist", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["checklist", "number"], name="unique_version_number"),
            models.UniqueConstraint(fields=["checklist", "sha256"], name="unique_version_text"),
            models.CheckConstraint(condition=Q(number__gte=1), name="version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.checklist.name} v{self.number}"


class Section(models.Model):
    version = models.ForeignKey(ChecklistVersion, on_delete=models.CASCADE, related_name="sections")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="subsections")
    title = models.CharField(max_length=300)
    level = models.PositiveSmallIntegerField()
    optional = models.BooleanField(default=False)
    position = models.PositiveIntegerField()
    line = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="unique_section_position"),
        ]

    def __str__(self) -> str:
        return self.title


class Item(models.Model):
    version = models.ForeignKey(ChecklistVersion, on_delete=models.CASCADE, related_name="items")
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="items")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    key = models.CharField(max_length=400)
    text = models.TextField()
    optional = models.BooleanField(default=False)
    probe = models.JSONField(null=True, blank=True)
    position = models.PositiveIntegerField()
    line = models.PositiveIntegerField(default=0)
    section_path = models.JSONField(default=list)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="unique_item_key_per_version"),
            models.UniqueConstraint(fields=["version", "position"], name="unique_item_position"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def automated(self) -> bool:
        return self.probe is not None


class Deployment(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        SIGNED_OFF = "signed_off"
        ABORTED = "aborted"

    environment = models.ForeignKey("probes.Environment", on_delete=models.PROTECT, related_name="deployments")
    version = models.ForeignKey(ChecklistVersion, on_delete=models.PROTECT, related_name="deployments")
    release = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["environment", "-created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.release} → {self.environment}"

    @property
    def locked(self) -> bool:
        return self.status != self.Status.OPEN


class ItemState(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        PASSED = "passed"
        FAILED = "failed"
        WAIVED = "waived"
        NA = "na"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="states")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="states")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    note = models.TextField(blank=True)
    evidence_url = models.URLField(max_length=1000, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by_name = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    latest_run = models.ForeignKey(
        "probes.ProbeRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_passed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "item"], name="one_state_per_item_per_deployment"),
        ]

    def __str__(self) -> str:
        return f"{self.item.key}: {self.state}"


class SignOff(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="signoffs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=20, choices=Role.choices)
    comment = models.TextField(blank=True)
    digest = models.CharField(max_length=64)
    at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "role"], condition=Q(voided_at__isnull=True), name="one_live_signoff_per_role"
            ),
        ]


class Event(models.Model):
    """One line of append-only history.  Names are copied so the past is not rewritten."""

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
        HOST_KEY_TRUSTED = "host_key_trusted"
        ENVIRONMENT = "environment"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    deployment_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    environment_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    item_key = models.CharField(max_length=400, blank=True)
    item_text = models.TextField(blank=True)
    before = models.CharField(max_length=200, blank=True)
    after = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.kind} {self.item_key}"


class ApiToken(models.Model):
    """A bearer token; only its sha256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
