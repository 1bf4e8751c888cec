"""Reads of routing: what a campaign's routing has done, for its page and its API.

The spot check measures the acceptance rule: on the spot-checked pairs whose judgments are
complete (k of them), the humans' preference (their lower median, as calibration reduces it)
is compared with the grade the pair would have been accepted with (its two orders' mean,
truncated toward zero). They **agree** when both point the same way: the same candidate
better, or both about equal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from policy.rubric import PREFERENCE_FIELD

from ..models import Assignment, Campaign, Grade, Judgment, Pair
from ..quality.agreement import FIELD_BY_NAME, reduce_ratings
from .priority import grader_value


@dataclass(frozen=True)
class RoutingSummary:
    routing: str
    grader: str | None
    version: str | None  # the grader version the ranks come from ("name vN")
    routed_at: datetime | None
    human_budget: int | None
    human_judgments: int
    live_leases: int
    accepted: int
    spot_checked: int
    spot_checks_finished: int
    spot_checks_agreed: int

    @property
    def budget_used(self) -> int:
        """Judgments plus live leases: what a claim counts against the budget."""
        return self.human_judgments + self.live_leases

    @property
    def budget_left(self) -> int | None:
        if self.human_budget is None:
            return None
        return max(0, self.human_budget - self.budget_used)

    @property
    def spot_check_agreement(self) -> float | None:
        if not self.spot_checks_finished:
            return None
        return self.spot_checks_agreed / self.spot_checks_finished

    def as_dict(self) -> dict[str, Any]:
        return {
            "routing": self.routing,
            "grader": self.grader,
            "version": self.version,
            "routed_at": self.routed_at,
            "human_budget": self.human_budget,
            "human_judgments": self.human_judgments,
            "live_leases": self.live_leases,
            "budget_used": self.budget_used,
            "budget_left": self.budget_left,
            "accepted": self.accepted,
            "spot_checked": self.spot_checked,
            "spot_checks_finished": self.spot_checks_finished,
            "spot_checks_agreed": self.spot_checks_agreed,
            "spot_check_agreement": self.spot_check_agreement,
        }


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def spot_check_agreement(*, campaign: Campaign) -> tuple[int, int]:
    """(finished, agreed) over the campaign's spot-checked pairs (see the module docstring)."""
    if campaign.routed_version_id is None:
        return 0, 0
    finished = list(
        Pair.objects.filter(
            campaign=campaign, spot_check=True, judgment_count__gte=campaign.judgments_per_pair
        ).values_list("id", flat=True)
    )
    if not finished:
        return 0, 0
    humans: dict[int, list[int]] = defaultdict(list)
    for pair_id, preference in Judgment.objects.filter(pair_id__in=finished).values_list(
        "pair_id", PREFERENCE_FIELD
    ):
        humans[pair_id].append(preference)
    graded: dict[int, dict[str, int]] = defaultdict(dict)
    for pair_id, order, preference in Grade.objects.filter(
        grader_version_id=campaign.routed_version_id, kind=Grade.Kind.PAIR, pair_id__in=finished
    ).values_list("pair_id", "order", "preference"):
        if preference is not None:
            graded[pair_id][order] = preference
    spec = FIELD_BY_NAME[PREFERENCE_FIELD]
    counted = agreed = 0
    for pair_id in finished:
        if not humans[pair_id] or not graded[pair_id]:
            continue
        counted += 1
        consensus = reduce_ratings(spec, humans[pair_id])
        agreed += _sign(consensus) == _sign(grader_value(graded[pair_id]))
    return counted, agreed


def routing_summary(*, campaign: Campaign) -> RoutingSummary:
    """The campaign's routing at a glance: budget used, pairs accepted and spot-checked, and
    how often humans agreed with the accepted grade on the finished spot checks."""
    now = timezone.now()
    pairs = Pair.objects.filter(campaign=campaign)
    finished, agreed = spot_check_agreement(campaign=campaign)
    version = campaign.routed_version
    return RoutingSummary(
        routing=campaign.routing,
        grader=campaign.routing_grader.name if campaign.routing_grader else None,
        version=str(version) if version else None,
        routed_at=campaign.routed_at,
        human_budget=campaign.human_budget,
        human_judgments=Judgment.objects.filter(pair__campaign=campaign).count(),
        live_leases=Assignment.objects.filter(
            campaign=campaign, completed_at__isnull=True, expires_at__gt=now
        ).count(),
        accepted=pairs.filter(ai_accepted=True).count(),
        spot_checked=pairs.filter(spot_check=True).count(),
        spot_checks_finished=finished,
        spot_checks_agreed=agreed,
    )


__all__ = ["RoutingSummary", "routing_summary", "spot_check_agreement"]
