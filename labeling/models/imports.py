from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    """An upload imported by a Celery worker rather than inside the web request.

    The file is stored under ``IMPORT_UPLOADS_DIR`` until the job ends. Counts move while it
    runs (written by the worker every second or so, with ``heartbeat_at``); a failure keeps the
    grouped problems and the token of the full problem list (labeling/imports/problem_files.py).
    ``attempt`` fences a run: only the worker holding the latest attempt may finish the job.
    """

    class Kind(models.TextChoices):
        PROMPTS = "prompts", "Prompts"
        CANDIDATES = "candidates", "Candidates"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.CASCADE, related_name="import_jobs"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    filename = models.CharField(max_length=255, help_text="the uploaded file's own name")
    upload_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="file name inside IMPORT_UPLOADS_DIR, never a path; empty once the job ends",
    )
    upload_bytes = models.PositiveBigIntegerField(default=0)
    options = models.JSONField(
        default=dict, help_text="format, default_category, default_intent, source_name"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempt = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lines_read = models.PositiveBigIntegerField(default=0)
    imported = models.PositiveBigIntegerField(default=0)
    problem_count = models.PositiveBigIntegerField(default=0)
    report = models.JSONField(null=True, blank=True, help_text="the import report, on success")
    problems = models.JSONField(default=list, blank=True, help_text="the first problems by line")
    problem_groups = models.JSONField(default=list, blank=True)
    other_problems = models.PositiveBigIntegerField(default=0)
    problems_token = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_jobs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            # The recovery sweep reads the unfinished jobs only.
            models.Index(
                fields=("status", "created_at"),
                name="labeling_importjob_open",
                condition=models.Q(status__in=("queued", "running")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} import {self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}
