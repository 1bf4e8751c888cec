from __future__ import annotations

from django.db import models

from .runs import PlannedRow, PlannedRun


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


class GenerationRun(PlannedRun):
    """One request for candidates: prompts × endpoints × styles × samples."""

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
    succeeded = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"run {self.pk}"


class GenerationTask(PlannedRow):
    """One planned candidate."""

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="tasks")
    prompt = models.ForeignKey("labeling.Prompt", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="+")
    style = models.CharField(max_length=100)
    sample_index = models.PositiveSmallIntegerField()
    seed = models.BigIntegerField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=("run", "status")),
            models.Index(fields=("status", "lease_until")),
        ]
