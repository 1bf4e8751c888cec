"""What generation and grading runs have in common: a run of planned rows, one per candidate or
grade to make, that workers claim under a lease (see ``labeling.planned_runs``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class PlannedRowStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class PlannedRun(models.Model):
    """A run's state and counters; the counters add up what the workers stored, so a run's
    page reads one row. Each kind adds its settings and the counter of what it made."""

    Status = RunStatus

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    planned = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    swept_at = models.DateTimeField(
        null=True, blank=True, help_text="when a sweep last sent this run's stalled work again"
    )

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class PlannedRow(models.Model):
    """One planned item of a run. The database, not the broker, is the record of what a run
    has left to do: a row is claimed under a lease, retried after ``available_at``."""

    Status = PlannedRowStatus

    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="while running: the claim expires at this time"
    )
    available_at = models.DateTimeField(
        null=True, blank=True, help_text="while pending: not to be tried before (retry backoff)"
    )
    error_kind = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
