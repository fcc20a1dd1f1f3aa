"""Services, their environments (what probes may reach) and probe runs."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Service(models.Model):
    name = models.CharField(max_length=200, unique=True)
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
    ssh_host = models.CharField(max_length=255, blank=True)
    ssh_port = models.PositiveIntegerField(default=22)
    ssh_username = models.CharField(max_length=100, blank=True)
    ssh_host_key = models.TextField(blank=True, help_text="The pinned host key, OpenSSH format.")
    ca_bundle = models.TextField(blank=True, help_text="Extra trusted CA certificates (PEM) for TLS probes.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service__name", "name"]
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="unique_environment_per_service")]

    def __str__(self) -> str:
        return f"{self.service.name} / {self.name}"


class EnvironmentSecret(models.Model):
    """A write-only value, encrypted at rest with CTRLREADY_SECRET_KEYS.

    The names `ssh_private_key` and `ssh_password` hold the SSH credentials.
    """

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="unique_secret_name")]

    def __str__(self) -> str:
        return self.name


class ProbeRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR)

    deployment = models.ForeignKey("checklists.Deployment", on_delete=models.CASCADE, related_name="runs")
    item = models.ForeignKey("checklists.Item", on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    not_configured = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    deadline = models.DateTimeField(help_text="When the sweep ends this run if it is still unfinished.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    conditions = models.JSONField(default=list, blank=True)
    observed = models.JSONField(default=dict, blank=True)
    batch = models.CharField(max_length=40, blank=True, db_index=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["status", "deadline"], name="run_unfinished_deadline",
                         condition=Q(status__in=["queued", "running"])),
            models.Index(fields=["deployment", "item", "-requested_at"]),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED
