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
