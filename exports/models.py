"""An export job: a frozen selection and settings, its status and progress, and its result."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Export(models.Model):
    """One export run. The selection and settings are frozen when it is created."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        OPENAI_DPO = "openai-dpo", "OpenAI preference fine-tuning (DPO)"
        OPENAI_SFT = "openai-sft", "OpenAI chat fine-tuning (SFT)"
        TRL_PREFERENCE = "trl-preference", "TRL preference (DPO, ORPO, CPO, reward)"
        TRL_KTO = "trl-kto", "TRL KTO"
        REWARD = "reward", "Pointwise safety and helpfulness rewards"
        JUDGMENTS = "judgments", "Raw judgments (JSONL)"
        JUDGMENTS_CSV = "judgments-csv", "Raw judgments (CSV)"
        GRADES = "grades", "A grader's grades (JSONL)"

    class ArchiveFormat(models.TextChoices):
        TAR_GZ = "tar.gz", ".tar.gz"
        ZIP = "zip", ".zip"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exports",
    )
    format = models.CharField(max_length=20, choices=Format.choices)
    archive_format = models.CharField(
        max_length=8, choices=ArchiveFormat.choices, default=ArchiveFormat.TAR_GZ
    )
    spec = models.JSONField(help_text="the frozen selection and settings (exports.spec)")
    policy_version = models.ForeignKey(
        "policy.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    pairs_total = models.PositiveIntegerField(default=0)
    pairs_done = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveBigIntegerField(default=0)
    manifest = models.JSONField(null=True, blank=True)
    archive_name = models.CharField(
        max_length=200, blank=True, help_text="file name inside EXPORTS_DIR/<id>/, never a path"
    )
    archive_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="when the worker running it last reported, or a sweep last sent it again",
    )
    # The learnability report of a preference export moves through the export's own statuses
    # (queued, running, completed, failed); blank: no report (not a preference format).
    learnability_status = models.CharField(
        max_length=10, choices=Status.choices, blank=True, default=""
    )
    learnability = models.JSONField(
        null=True, blank=True, help_text="the learnability report (exports.learnability.model)"
    )
    learnability_error = models.TextField(blank=True)
    learnability_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="when the report was queued, taken by a worker, or sent again by a sweep",
    )

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("created_by", "created_at"))]

    def __str__(self) -> str:
        return f"{self.format} export {self.id}"

    @property
    def percent(self) -> int:
        """Progress as a whole percentage (100 once completed)."""
        if self.status == self.Status.COMPLETED:
            return 100
        if not self.pairs_total:
            return 0
        return min(100, int(100 * self.pairs_done / self.pairs_total))

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED}


class LearnabilityEstimate(models.Model):
    """A learnability report asked for from the export form's preview: a selection and its
    settings, computed by a worker without writing an export."""

    # The export's statuses: an estimate is queued, running, completed or failed as one is.
    Status = Export.Status

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="learnability_estimates",
    )
    spec = models.JSONField(help_text="the frozen selection and settings (exports.spec)")
    status = models.CharField(
        max_length=10, choices=Export.Status.choices, default=Export.Status.QUEUED
    )
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="when a worker took it, or a sweep sent it again"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"learnability estimate {self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED}
