from __future__ import annotations

from django.conf import settings
from django.db import models


class Review(models.Model):
    """A reviewer's resolution of a pair: final labels and preference, or discard."""

    class Resolution(models.TextChoices):
        LABELS = "labels", "Final labels"
        DISCARD = "discard", "Discard pair"

    pair = models.OneToOneField("labeling.Pair", on_delete=models.CASCADE, related_name="review")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    resolution = models.CharField(max_length=10, choices=Resolution.choices)
    final_labels = models.JSONField(
        null=True,
        blank=True,
        help_text='{"a": {"response_mode", "severity", "helpfulness"}, "b": {...}, "preference"}',
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
