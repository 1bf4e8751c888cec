"""Writes of routing: recompute a campaign's ranks and accepted pairs from its grades.

A recompute reads the grades once and writes only the pairs whose figures change, grouped by
their new values (one UPDATE per distinct rank, chunked), each in a short transaction of its
own, so concurrent claims wait for a pair at most for one such statement. It runs on a worker
(``tasks.recompute``) when a campaign's routing settings change and when a grading run of its
routing grader completes; without a broker it runs in the request instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import islice
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..broker import BROKER_ERRORS, QUICK_RETRY
from ..models import Campaign, Grade, GraderVersion, Pair
from .priority import PairGrades, acceptable, route_rank, spot_checked
from .tasks import enqueue_recompute

UPDATE_CHUNK = 5000
READ_CHUNK = 5000


def routing_version(*, campaign: Campaign) -> GraderVersion | None:
    """The routing grader's newest version with grades of this campaign's pairs (None when it
    has graded none of them yet, or the campaign routes uniformly)."""
    if campaign.routing != Campaign.Routing.GRADER_FIRST or campaign.routing_grader_id is None:
        return None
    graded = Grade.objects.filter(kind=Grade.Kind.PAIR, pair__campaign=campaign).values(
        "grader_version"
    )
    return (
        GraderVersion.objects.filter(grader_id=campaign.routing_grader_id, pk__in=graded)
        .select_related("grader")
        .order_by("-number")
        .first()
    )


def _other_versions(*, campaign: Campaign, version: GraderVersion) -> list[int]:
    """Every other grader's newest version with pair grades of this campaign."""
    rows = (
        GraderVersion.objects.filter(
            pk__in=Grade.objects.filter(kind=Grade.Kind.PAIR, pair__campaign=campaign).values(
                "grader_version"
            )
        )
        .exclude(grader_id=version.grader_id)
        .order_by("grader_id", "-number")
        .values_list("grader_id", "pk")
    )
    newest: dict[int, int] = {}
    for grader_id, version_id in rows:
        newest.setdefault(grader_id, version_id)
    return list(newest.values())


def campaign_pair_grades(*, campaign: Campaign, version: GraderVersion) -> dict[int, PairGrades]:
    """The grades behind routing, per ordinary (not gold) pair of the campaign."""
    pairs = {
        pair_id: (a, b)
        for pair_id, a, b in Pair.objects.filter(campaign=campaign, is_gold=False)
        .values_list("id", "candidate_a_id", "candidate_b_id")
        .iterator(chunk_size=READ_CHUNK)
    }
    preferences: dict[int, dict[str, int]] = defaultdict(dict)
    confidences: dict[int, dict[str, float]] = defaultdict(dict)
    rows = Grade.objects.filter(
        grader_version=version, kind=Grade.Kind.PAIR, pair__campaign=campaign
    ).values_list("pair_id", "order", "preference", "confidence")
    for pair_id, order, preference, confidence in rows.iterator(chunk_size=READ_CHUNK):
        if preference is not None:  # always, on a pair grade (grade_kind_fields)
            preferences[pair_id][order] = preference
            confidences[pair_id][order] = confidence
    candidates: dict[int, tuple[float, str]] = {}
    candidate_rows = Grade.objects.filter(
        grader_version=version, kind=Grade.Kind.CANDIDATE, candidate__prompt__campaign=campaign
    ).values_list("candidate_id", "confidence", "severity")
    for candidate_id, confidence, severity in candidate_rows.iterator(chunk_size=READ_CHUNK):
        candidates[candidate_id] = (confidence, severity or "")
    others: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    other_rows = Grade.objects.filter(
        grader_version_id__in=_other_versions(campaign=campaign, version=version),
        kind=Grade.Kind.PAIR,
        pair__campaign=campaign,
    ).values_list("pair_id", "grader_version_id", "preference")
    for pair_id, version_id, preference in other_rows.iterator(chunk_size=READ_CHUNK):
        if preference is not None:
            others[pair_id][version_id].append(preference)
    grades = {}
    for pair_id, (a, b) in pairs.items():
        graded_candidates = [candidates[c] for c in (a, b) if c in candidates]
        grades[pair_id] = PairGrades(
            preferences=preferences.get(pair_id, {}),
            confidences=confidences.get(pair_id, {}),
            candidate_confidences=[confidence for confidence, _ in graded_candidates],
            candidate_severities=[severity for _, severity in graded_candidates],
            other_preferences=list(others[pair_id].values()) if pair_id in others else [],
        )
    return grades


def routing_figures(*, campaign: Campaign) -> tuple[GraderVersion | None, dict[int, tuple]]:
    """Each ordinary pair's (rank, accepted, spot-checked) under the campaign's settings."""
    version = routing_version(campaign=campaign)
    if version is None:
        return None, {}
    grades = campaign_pair_grades(campaign=campaign, version=version)
    figures: dict[int, tuple[int, bool, bool]] = {
        pair_id: (route_rank(pair_grades), False, False) for pair_id, pair_grades in grades.items()
    }
    if campaign.accept_confidence is not None:
        eligible = [
            pair_id
            for pair_id, pair_grades in grades.items()
            if acceptable(
                pair_grades,
                min_confidence=campaign.accept_confidence,
                min_consistency=campaign.accept_consistency,
            )
        ]
        checked = spot_checked(eligible, campaign.spot_check_share)
        for pair_id in eligible:
            rank = figures[pair_id][0]
            figures[pair_id] = (rank, pair_id not in checked, pair_id in checked)
    return version, figures


def _chunks(ids: Iterable[int], size: int) -> Iterable[list[int]]:
    iterator = iter(ids)
    return iter(lambda: list(islice(iterator, size)), [])


def routing_recompute(*, campaign_id: int) -> dict[str, int]:
    """Store every pair's routing figures for the campaign's current settings and grades:
    under uniform routing rank 0 and nothing accepted (today's order exactly). Idempotent.
    Returns how many pairs changed, and how many are accepted and spot-checked."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {"changed": 0, "accepted": 0, "spot_checked": 0}
    version, figures = routing_figures(campaign=campaign)
    current = Pair.objects.filter(campaign=campaign).values_list(
        "id", "route_rank", "ai_accepted", "spot_check"
    )
    groups: dict[tuple[int, bool, bool], list[int]] = defaultdict(list)
    for pair_id, rank, accepted, spot in current.iterator(chunk_size=READ_CHUNK):
        wanted = figures.get(pair_id, (0, False, False))
        if wanted != (rank, accepted, spot):
            groups[wanted].append(pair_id)
    changed = 0
    for (rank, accepted, spot), ids in groups.items():
        for chunk in _chunks(ids, UPDATE_CHUNK):
            with transaction.atomic():
                changed += Pair.objects.filter(pk__in=chunk).update(
                    route_rank=rank, ai_accepted=accepted, spot_check=spot
                )
    Campaign.objects.filter(pk=campaign.pk).update(routed_at=timezone.now(), routed_version=version)
    return {
        "changed": changed,
        "accepted": sum(1 for _, accepted, _ in figures.values() if accepted),
        "spot_checked": sum(1 for _, _, spot in figures.values() if spot),
    }


def routing_schedule(*, campaign_id: int) -> None:
    """Recompute the campaign's routing on a worker once the current transaction commits;
    when the broker cannot take the message, recompute right here instead."""

    def publish() -> None:
        try:
            enqueue_recompute(campaign_id, retry_policy=QUICK_RETRY)
        except BROKER_ERRORS:
            routing_recompute(campaign_id=campaign_id)

    transaction.on_commit(publish)


def campaigns_routed_by(*, grader_version: GraderVersion, campaign_id: int) -> bool:
    """Whether ``campaign_id`` routes grader-first by this version's grader (whose new grades
    then change its routing)."""
    return Campaign.objects.filter(
        Q(pk=campaign_id)
        & Q(routing=Campaign.Routing.GRADER_FIRST)
        & Q(routing_grader_id=grader_version.grader_id)
    ).exists()


__all__: list[Any] = [
    "campaign_pair_grades",
    "campaigns_routed_by",
    "routing_figures",
    "routing_recompute",
    "routing_schedule",
    "routing_version",
]
