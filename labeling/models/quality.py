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


class DashboardSnapshot(models.Model):
    """The computed tables and charts of one dashboard of one campaign.

    Dashboards read a million judgments; a worker computes them (task
    ``labeling.quality.dashboard_refresh``) and pages read this one row, so a page answers in
    milliseconds whatever the data size, and says how old its figures are.
    """

    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.CASCADE, related_name="dashboard_snapshots"
    )
    dashboard = models.CharField(max_length=30)
    data = models.JSONField(help_text='{"tables": {name: {"columns", "rows"}}, "charts": [...]}')
    computed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    refresh_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "dashboard"), name="dashboard_snapshot_unique"
            ),
        ]
