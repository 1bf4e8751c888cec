from __future__ import annotations

from django.conf import settings
from django.db import models


class ExportExclusion(models.Model):
    """A pair kept out of every export from now on (set in the data browser).

    Exports read the pair as usual and leave it out under its own reason, so their counts of
    what the rules leave out say how many pairs this took away. Deleting the row lets the pair
    back in.
    """

    pair = models.OneToOneField(
        "labeling.Pair", on_delete=models.CASCADE, related_name="export_exclusion"
    )
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"pair {self.pair_id} excluded from exports"


class CandidateValue(models.Model):
    """A source, model or style some candidate of a campaign has: what the data browser's
    filters offer, and what they accept.

    PostgreSQL keeps the rows, in the transaction of every candidate insert (a statement
    trigger, ``labeling/browser/candidate_values.py``), so listing them reads a few rows
    instead of the campaign's candidates. Candidates' source, model and style are written once,
    never updated; a value whose candidates were all deleted stays (it matches nothing). SQLite
    (the demo) has no trigger: there the values are read from the candidates.
    """

    class Field(models.TextChoices):
        SOURCE = "source", "source"
        MODEL = "model", "model"
        STYLE = "style", "style"

    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=10, choices=Field.choices)
    value = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "field", "value"), name="candidate_value_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.field}: {self.value} (campaign {self.campaign_id})"
