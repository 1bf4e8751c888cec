"""Bias checks on preferences: position (left side wins) and length (longer side wins).

Judgments are stored in canonical order (A, B) with ``left_is_a`` recording what was shown, so
the side that appeared on the left *won* when ``preference < 0`` and A was on the left, or
``preference > 0`` and B was on the left. Ties (``preference == 0``) are left out. A fair UI with
unbiased annotators gives a left-win share near 50%.

Length bias relates the preference (−2…+2, positive = B better) to the length difference
``len(B) − len(A)`` in characters: Pearson's r over the judgments, and the share of decided
judgments (non-zero preference, different lengths) that prefer the longer side.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Case, Count, F, FloatField, Q, Sum, Value, When
from django.db.models.functions import Cast, Length
from scipy.stats import binomtest

from labeling.models import Campaign, Judgment

LEFT_WON = Q(left_is_a=True, preference__lt=0) | Q(left_is_a=False, preference__gt=0)
DECIDED = ~Q(preference=0)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> list[float | None]:
    """Wilson score interval for a proportion (95% by default)."""
    if trials == 0:
        return [None, None]
    share = successes / trials
    denominator = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    return [centre - margin / denominator, centre + margin / denominator]


def _position_row(left_wins: int, decided: int) -> dict[str, Any]:
    return {
        "decided": decided,
        "left_wins": left_wins,
        "left_win_share": left_wins / decided if decided else None,
        "ci95": wilson_interval(left_wins, decided),
        # Two-sided exact binomial test against a fair 50%.
        "p_value": float(binomtest(left_wins, decided, 0.5).pvalue) if decided else None,
    }


def position_bias(*, campaign: Campaign) -> dict[str, Any]:
    """Left-win share for the whole campaign and per annotator."""
    judgments = Judgment.objects.filter(pair__prompt__campaign=campaign)
    totals = judgments.aggregate(
        left_wins=Count("id", filter=LEFT_WON), decided=Count("id", filter=DECIDED)
    )
    per_annotator = (
        judgments.values("annotator__username")
        .annotate(left_wins=Count("id", filter=LEFT_WON), decided=Count("id", filter=DECIDED))
        .order_by("annotator__username")
    )
    return {
        "campaign": _position_row(totals["left_wins"], totals["decided"]),
        "annotators": [
            {
                "annotator": row["annotator__username"],
                **_position_row(row["left_wins"], row["decided"]),
            }
            for row in per_annotator
        ],
    }


def _pearson(n: int, sx: float, sy: float, sxy: float, sxx: float, syy: float) -> float | None:
    if n < 2:
        return None
    covariance = n * sxy - sx * sy
    spread = (n * sxx - sx * sx) * (n * syy - sy * sy)
    if spread <= 0:
        return None
    return covariance / math.sqrt(spread)


def length_bias(*, campaign: Campaign) -> dict[str, Any]:
    """Correlation of preference with the length difference, campaign-wide and per annotator."""
    difference = Cast(
        Length("pair__candidate_b__text") - Length("pair__candidate_a__text"), FloatField()
    )
    preference = Cast(F("preference"), FloatField())
    judgments = Judgment.objects.filter(pair__prompt__campaign=campaign).annotate(
        difference=difference, preference_value=preference
    )
    longer_won = Q(difference__gt=0, preference__gt=0) | Q(difference__lt=0, preference__lt=0)
    decided = DECIDED & ~Q(difference=0)
    sums = {
        "n": Count("id"),
        "sx": Sum("difference"),
        "sy": Sum("preference_value"),
        "sxy": Sum(F("difference") * F("preference_value")),
        "sxx": Sum(F("difference") * F("difference")),
        "syy": Sum(F("preference_value") * F("preference_value")),
        "longer_wins": Sum(Case(When(longer_won, then=Value(1)), default=Value(0))),
        "decided": Sum(Case(When(decided, then=Value(1)), default=Value(0))),
    }

    def row(values: dict[str, Any]) -> dict[str, Any]:
        n = values["n"] or 0
        decided_count = values["decided"] or 0
        return {
            "judgments": n,
            "pearson_r": _pearson(
                n,
                values["sx"] or 0.0,
                values["sy"] or 0.0,
                values["sxy"] or 0.0,
                values["sxx"] or 0.0,
                values["syy"] or 0.0,
            ),
            "decided": decided_count,
            "longer_wins": values["longer_wins"] or 0,
            "longer_win_share": (values["longer_wins"] or 0) / decided_count
            if decided_count
            else None,
        }

    per_annotator = (
        judgments.values("annotator__username").annotate(**sums).order_by("annotator__username")
    )
    return {
        "campaign": row(judgments.aggregate(**sums)),
        "annotators": [
            {"annotator": values["annotator__username"], **row(values)} for values in per_annotator
        ],
    }
