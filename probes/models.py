"""Probe runs: one execution of an automated item's probe, with every condition's observed value."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ProbeRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR)

    # No index of its own: the (deployment, item, -requested_at) index below leads with it.
    deployment = models.ForeignKey(
        "checklists.Deployment", on_delete=models.CASCADE, related_name="runs", db_index=False
    )
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
    #: Passed only on a retry (`retries`): shown on the row and counted per service.
    flaky = models.BooleanField(default=False)
    #: For ssh and host probes, each host's result: [{"host", "role", "status", "message", "conditions"}].
    hosts = models.JSONField(default=list, blank=True)
    batch = models.CharField(max_length=40, blank=True)
    changed_state = models.BooleanField(
        default=False, help_text="This run changed its item's state: it is kept however old (see runs_prune)."
    )

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
