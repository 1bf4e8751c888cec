from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelEndpoint(models.Model):
    """An OpenAI-compatible endpoint. The API key stays in the environment, never here."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(max_length=500)
    model = models.CharField(max_length=200)
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the key"
    )
    timeout_seconds = models.FloatField(default=60.0)
    concurrency_limit = models.PositiveIntegerField(default=8)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class GenerationRun(models.Model):
    """One request for candidates: prompts × endpoints × styles × samples."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.CASCADE, related_name="generation_runs"
    )
    endpoints = models.ManyToManyField(ModelEndpoint, related_name="runs")
    styles = models.JSONField(help_text='[{"name": "refusal-style", "system_prompt": "..."}]')
    samples_per_prompt = models.PositiveSmallIntegerField(default=1)
    temperature = models.FloatField(default=0.7)
    max_tokens = models.PositiveIntegerField(default=512)
    seed = models.BigIntegerField(default=0)
    prompt_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="only the campaign's first N prompts (by id)"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    planned = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
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
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"run {self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class GenerationTask(models.Model):
    """One planned candidate. The database, not the broker, is the record of what is left."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="tasks")
    prompt = models.ForeignKey("labeling.Prompt", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="+")
    style = models.CharField(max_length=100)
    sample_index = models.PositiveSmallIntegerField()
    seed = models.BigIntegerField()
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
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=("run", "status")),
            models.Index(fields=("status", "lease_until")),
        ]
