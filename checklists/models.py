"""The domain: checklists and their immutable versions, services and their environments, deployments
against them, every item's state and the sign-offs."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import Role


class Service(models.Model):
    name = models.CharField(max_length=200, unique=True)
    # The team whose roles apply; a service with no team is reached only through site-wide roles.
    team = models.ForeignKey("core.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="services")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Environment(models.Model):
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="environments")
    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=500)
    allowed_hosts = models.JSONField(default=list, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    dns_servers = models.JSONField(
        default=list, blank=True, help_text="DNS servers probes resolve with (`ip` or `ip:port`); empty: the worker's."
    )
    ca_bundle = models.TextField(blank=True, help_text="Extra trusted CA certificates (PEM) for TLS probes.")
    # Where it stands on a release's way out: lower first (dev 10 → staging 20 → production 30 by default).
    position = models.PositiveSmallIntegerField(default=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service__name", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="unique_environment_per_service")]

    def __str__(self) -> str:
        return f"{self.service.name} / {self.name}"

    @property
    def owner_team_id(self) -> int | None:
        """The team whose roles apply here (select `service` along, or this reads it)."""
        return self.service.team_id


class SSHHost(models.Model):
    """One of an environment's SSH hosts: `ssh` and `host` probes run on the hosts whose role they name.

    Its credentials are write-only, encrypted at rest like every secret; its host key is pinned by an
    admin's recorded action and verified on every connection.
    """

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="ssh_hosts")
    role = models.CharField(max_length=50, blank=True, help_text="`web`, `worker`…: what `hosts:` in a probe names.")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=100)
    private_key = models.TextField(blank=True, help_text="Encrypted.")
    password = models.TextField(blank=True, help_text="Encrypted.")
    host_key = models.TextField(blank=True, help_text="The pinned host key, OpenSSH format.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["environment", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["environment", "host", "port"], name="unique_ssh_host_per_environment")]

    def __str__(self) -> str:
        return f"{self.username}@{self.host}:{self.port}" + (f" ({self.role})" if self.role else "")

    @property
    def label(self) -> str:
        return self.host if self.port == 22 else f"{self.host}:{self.port}"


class EnvironmentSecret(models.Model):
    """A write-only value, encrypted at rest with CTRLREADY_SECRET_KEYS."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="unique_secret_name")]

    def __str__(self) -> str:
        return self.name


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
    description = models.TextField(blank=True, help_text="The prose under the title (Markdown).")
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
    description = models.TextField(blank=True, help_text="The prose under the heading (Markdown).")

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="unique_section_position"),
        ]

    def __str__(self) -> str:
        return self.title


class Item(models.Model):
    class Scope(models.TextChoices):
        ENVIRONMENT = "environment"
        RELEASE = "release"

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
    has_children = models.BooleanField(default=False)
    # Where its evidence belongs, how long an attestation holds, who it waits on by default: the
    # checklist's `<!-- item -->` comment.
    scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.ENVIRONMENT)
    valid_for = models.DurationField(null=True, blank=True)
    owner = models.CharField(max_length=150, blank=True)

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

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments")
    version = models.ForeignKey(ChecklistVersion, on_delete=models.PROTECT, related_name="deployments")
    release = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    # The planned go-live; the schedule appends one `due_soon` before it while anything blocks, and
    # notes when (`due_soon_at`, cleared when `due_at` moves) so it is appended once.
    due_at = models.DateTimeField(null=True, blank=True)
    due_soon_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["environment", "-created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.release} → {self.environment}"

    @property
    def locked(self) -> bool:
        return self.status != self.Status.OPEN

    @property
    def owner_team_id(self) -> int | None:
        """The team whose roles apply here (select `environment__service` along, or this reads them)."""
        return self.environment.service.team_id


class ItemState(models.Model):
    class RunState(models.TextChoices):
        IDLE = "", "idle"
        QUEUED = "queued"
        RUNNING = "running"

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
    # The waiver, kept apart from the note: only a lead's waive writes it, and leaving `waived` clears it.
    waiver_reason = models.TextField(blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waived_by_name = models.CharField(max_length=150, blank=True)
    waived_at = models.DateTimeField(null=True, blank=True)
    # What the latest finished probe run of an automated item found, kept here so the item carries
    # its own evidence: `result` is what the pages and the API show of it, `latest_run_id` names the run
    # (a plain id: runs are the probes app's, and old ones are pruned).
    latest_run_id = models.BigIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    last_passed_at = models.DateTimeField(null=True, blank=True)
    run_state = models.CharField(
        max_length=10, choices=RunState.choices, blank=True, default="",
        help_text="Whether a probe run of this item is queued or running now.",
    )
    # A state taken over from an earlier deployment (`scope: release` or `valid:`): where it was
    # attested. `updated_by_name` and `updated_at` stay those of the attestation itself.
    carried_from = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The one person the item waits on: themselves (an engineer takes it) or whoever a lead names.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_items"
    )
    # A waiver may expire: past `waiver_expires_at` the item blocks again, judged when it is read. With
    # CTRLREADY_WAIVER_APPROVAL a waiver of a required item is proposed (still blocking) until a second
    # lead approves it. `waiver_expiry_noted`: the schedule has appended this waiver's `waiver_expired`.
    waiver_expires_at = models.DateTimeField(null=True, blank=True)
    waiver_proposed = models.BooleanField(default=False)
    waiver_approved_by_name = models.CharField(max_length=150, blank=True)
    waiver_expiry_noted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "item"], name="one_state_per_item_per_deployment"),
        ]

    def __str__(self) -> str:
        return f"{self.item.key}: {self.state}"

    @property
    def assignee_name(self) -> str | None:
        """The assignee's username (as the selector's rows read it); load `assignee` with the row."""
        return self.assignee.get_username() if self.assignee_id else None


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


class ReportFile(models.Model):
    """A deployment's report drawn as a PDF by a worker, and kept while it is the deployment's latest.

    One per deployment and content (`content_sha256`: the report apart from its moment), so asking
    twice for the same report queues one drawing; see `checklists.report_files`.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DRAWING = "drawing"
        READY = "ready"
        FAILED = "failed"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="report_files")
    # What the report says, apart from when it was read (`as_of`): unchanged while the deployment is.
    content_sha256 = models.CharField(max_length=64)
    # The `sha256` of the report drawn (its JSON as of when it was asked for), which the PDF prints.
    report_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The report to draw, as read when it was asked for; dropped once drawn (or not).
    document = models.JSONField(null=True, blank=True)
    pdf = models.BinaryField(null=True, blank=True)
    message = models.TextField(blank=True)
    asked_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Past it, a file still pending or drawing was lost (no worker took it up, or its worker stopped).
    deadline = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "content_sha256"], name="one_report_file_per_content"),
        ]

    def __str__(self) -> str:
        return f"report of deployment {self.deployment_id}: {self.status}"
