"""Calibration: how far a grader version's labels can be trusted, field by field, against humans.

The humans are every annotator's judgments plus the labels imported with the candidates (XSTest's
two annotators count as humans), shaped by :func:`labeling.quality.agreement.collect_ratings`.
For each rubric field and each unit (a candidate for response mode, severity and helpfulness; a
pair for preference) the humans' **consensus** is their reduced value (the most frequent mode,
the lower median of an ordered scale: :func:`~labeling.quality.agreement.reduce_ratings`), and
the grader is compared with it:

* ``alpha``: Krippendorff's α of the two raters "grader" and "humans" (consensus) over the units
  both rated, at the field's level of measurement, with a seeded bootstrap 95% interval
  (``ci95``) over those units;
* ``kappa``: Cohen's κ of the same two raters (unweighted for the response mode, linearly
  weighted for the ordered scales);
* ``human_alpha``: α among the human raters themselves over the same units, the ceiling a grader
  is measured against;
* ``confusion``: grader value × human consensus counts; ``disagreements``: the units where the
  two differ, the largest distance on the field's scale first.

A pair graded in both orders has two preferences (both stored in canonical order); the grader's
value for the pair is their mean truncated toward zero, so an order-inconsistent grader states a
weaker preference than either order did.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from labeling.models import CalibrationSnapshot, Campaign, Candidate, Grade, GraderVersion, Pair
from labeling.quality.agreement import (
    FIELDS,
    FieldSpec,
    Ratings,
    alpha_from_counts,
    bootstrap_interval,
    collect_ratings,
    kappa_value,
    reduce_ratings,
    value_counts,
)
from policy.rubric import PREFERENCE_FIELD

from .tasks import enqueue_calibration_refresh

GRADER = "grader"
HUMANS = "humans"
# The disagreeing units listed per field (all of them count in the figures).
DISAGREEMENTS_LISTED = 100
RESAMPLES = 1000
"""Bootstrap resamples of the page, the API and the command alike (the bootstrap is
vectorised, so a thousand cost a fraction of a second even at a million grades)."""
LIVE_PAIRS_MAX = 5000
"""A campaign with at most this many pairs has its calibration computed in each request (well
under a second); a larger one is served from its :class:`CalibrationSnapshot`, whose age the
page states, recomputed by a worker on request and when a grading run of it ends."""
REFRESH_PATIENCE = timedelta(minutes=15)
"""A recomputation asked for this long ago and not finished is taken as lost and asked again."""


def combined_preference(preferences: list[int]) -> int:
    """A pair's preference from its grades in both orders (canonical order): their mean
    truncated toward zero, so an order-inconsistent grader states a weaker preference."""
    return math.trunc(sum(preferences) / len(preferences))


def grader_ratings(version: GraderVersion, *, unit_ids: dict[str, set[int]]) -> dict[str, dict]:
    """The grader version's value per field and unit, for the units in ``unit_ids`` (candidate
    ids under ``candidate``, pair ids under ``pair``)."""
    values: dict[str, dict[int, Any]] = {spec.name: {} for spec in FIELDS}
    candidate_fields = [spec.name for spec in FIELDS if spec.name != PREFERENCE_FIELD]
    candidate_grades = Grade.objects.filter(
        grader_version=version, kind=Grade.Kind.CANDIDATE, candidate_id__in=unit_ids["candidate"]
    ).values_list("candidate_id", *candidate_fields)
    for candidate_id, *grade_values in candidate_grades.iterator(chunk_size=5000):
        for name, value in zip(candidate_fields, grade_values, strict=True):
            if value is not None:
                values[name][candidate_id] = value
    preferences: dict[int, list[int]] = {}
    pair_grades = Grade.objects.filter(
        grader_version=version, kind=Grade.Kind.PAIR, pair_id__in=unit_ids["pair"]
    ).values_list("pair_id", PREFERENCE_FIELD)
    for pair_id, preference in pair_grades.iterator(chunk_size=5000):
        if preference is not None:
            preferences.setdefault(pair_id, []).append(preference)
    for pair_id, both in preferences.items():
        values[PREFERENCE_FIELD][pair_id] = combined_preference(both)
    return values


def _distance(spec: FieldSpec, first: Any, second: Any) -> int:
    if spec.level == "nominal":
        return int(first != second)
    return abs(spec.domain.index(first) - spec.domain.index(second))


def field_calibration(
    spec: FieldSpec, humans: Ratings, grader: dict[Any, Any], *, reps: int, seed: int
) -> dict[str, Any]:
    """The figures of one field (see the module docstring)."""
    units = sorted(unit for unit in grader if humans.get(unit))
    consensus = {unit: reduce_ratings(spec, list(humans[unit].values())) for unit in units}
    paired: Ratings = {unit: {GRADER: grader[unit], HUMANS: consensus[unit]} for unit in units}
    counts = value_counts(spec, paired)
    rank = {value: position for position, value in enumerate(spec.domain)}
    kappa = (
        kappa_value(
            [rank[grader[unit]] for unit in units],
            [rank[consensus[unit]] for unit in units],
            weights=spec.kappa_weights,
            scale_size=len(spec.domain),
        )
        if len(units) >= 2
        else None
    )
    confusion = Counter((grader[unit], consensus[unit]) for unit in units)
    disagreeing = sorted(
        (
            {
                "unit": unit,
                "grader": grader[unit],
                "humans": consensus[unit],
                "human_values": sorted((str(v) for v in humans[unit].values()), key=str),
                "distance": _distance(spec, grader[unit], consensus[unit]),
            }
            for unit in units
            if grader[unit] != consensus[unit]
        ),
        key=lambda row: (-row["distance"], row["unit"]),
    )
    human_counts = value_counts(spec, {unit: humans[unit] for unit in units})
    return {
        "alpha": alpha_from_counts(spec, counts),
        "kappa": kappa,
        "ci95": bootstrap_interval(spec, counts, reps=reps, seed=seed),
        "items": len(units),
        "human_alpha": alpha_from_counts(spec, human_counts),
        "agreeing": len(units) - len(disagreeing),
        "confusion": {
            "values": [str(value) for value in spec.domain],
            "counts": [
                [confusion.get((grader_value, human_value), 0) for human_value in spec.domain]
                for grader_value in spec.domain
            ],
        },
        "disagreements": disagreeing[:DISAGREEMENTS_LISTED],
        "disagreement_count": len(disagreeing),
    }


def grader_calibration(
    *,
    version: GraderVersion,
    campaign: Any,
    category: str | None = None,
    intent: str | None = None,
    reps: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """A grader version against the humans of a campaign (optionally one category or intent):
    one key per rubric field, each with ``alpha``, ``kappa``, ``ci95``, ``items`` and
    ``human_alpha`` (the ``grader_agreement --json`` shape), plus the confusion matrix and the
    disagreeing units."""
    humans = collect_ratings(campaign=campaign, category=category, intent=intent)
    candidates = Candidate.objects.filter(prompt__campaign=campaign)
    pairs = Pair.objects.filter(prompt__campaign=campaign)
    if category:
        candidates = candidates.filter(prompt__category_path=category)
        pairs = pairs.filter(prompt__category_path=category)
    if intent:
        candidates = candidates.filter(prompt__intent=intent)
        pairs = pairs.filter(prompt__intent=intent)
    unit_ids = {
        "candidate": set(candidates.values_list("id", flat=True)),
        "pair": set(pairs.values_list("id", flat=True)),
    }
    grader = grader_ratings(version, unit_ids=unit_ids)
    return {
        spec.name: field_calibration(
            spec, humans[spec.name], grader[spec.name], reps=reps, seed=seed
        )
        for spec in FIELDS
    }


def summary_row(figures: dict[str, Any]) -> dict[str, Any]:
    """The five figures of one field, as ``grader_agreement --json`` prints them."""
    return {key: figures[key] for key in ("alpha", "kappa", "ci95", "items", "human_alpha")}


def graded_versions(*, campaign: Any) -> list[GraderVersion]:
    """The grader versions with grades of this campaign's items, by grader name and number."""
    graded = Grade.objects.filter(
        Q(candidate__prompt__campaign=campaign) | Q(pair__prompt__campaign=campaign)
    ).values("grader_version")
    return list(
        GraderVersion.objects.filter(pk__in=graded)
        .select_related("grader", "policy_version")
        .order_by("grader__name", "number")
    )


def breakdown(
    *, version: GraderVersion, campaign: Any, by: str, values: list[str]
) -> list[dict[str, Any]]:
    """α and κ per field for each category (``by="category"``) or intent of ``values``."""
    rows = []
    for value in values:
        figures = grader_calibration(
            version=version,
            campaign=campaign,
            category=value if by == "category" else None,
            intent=value if by == "intent" else None,
            reps=0,
        )
        rows.append(
            {by: value, "fields": {name: summary_row(row) for name, row in figures.items()}}
        )
    return rows


def first_pair_ids(candidate_ids: set[int]) -> dict[int, int]:
    """Each candidate's first pair (lowest id), the page a disagreeing candidate links to."""
    first: dict[int, int] = {}
    rows = (
        Pair.objects.filter(
            Q(candidate_a_id__in=candidate_ids) | Q(candidate_b_id__in=candidate_ids)
        )
        .order_by("id")
        .values_list("id", "candidate_a_id", "candidate_b_id")
    )
    for pair_id, candidate_a, candidate_b in rows:
        for candidate_id in (candidate_a, candidate_b):
            if candidate_id in candidate_ids:
                first.setdefault(candidate_id, pair_id)
    return first


def campaign_figures(
    *,
    campaign: Campaign,
    versions: list[GraderVersion],
    reps: int = RESAMPLES,
    detail_for: Collection[int] | None = None,
) -> dict[str, Any]:
    """What the calibration page and the API show, JSON-ready (as a snapshot stores it): per
    grader version (by id) its figures per field and, for the versions of ``detail_for`` (all
    when None), its figures per category and intent and each disagreeing candidate's first
    pair."""
    categories = sorted(set(campaign.prompts.values_list("category_path", flat=True)))
    intents = sorted(set(campaign.prompts.values_list("intent", flat=True)))
    per_version: dict[str, Any] = {}
    for version in versions:
        figures = grader_calibration(version=version, campaign=campaign, reps=reps)
        entry: dict[str, Any] = {"figures": figures}
        if detail_for is None or version.pk in detail_for:
            candidate_ids = {
                row["unit"]
                for name, field_figures in figures.items()
                if name != PREFERENCE_FIELD
                for row in field_figures["disagreements"]
            }
            entry |= {
                "by_category": breakdown(
                    version=version, campaign=campaign, by="category", values=categories
                ),
                "by_intent": breakdown(
                    version=version, campaign=campaign, by="intent", values=intents
                ),
                "first_pairs": {
                    str(candidate): pair
                    for candidate, pair in first_pair_ids(candidate_ids).items()
                },
            }
        per_version[str(version.pk)] = entry
    return {"reps": reps, "versions": per_version}


def calibration_campaign(*, slug: str) -> Campaign:
    """The campaign of a calibration page or API call, or 404 (without the counts the campaign
    pages annotate: over a million rows they cost more than the whole page may take)."""
    return get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)


def served_from_snapshot(campaign: Campaign) -> bool:
    """Whether the campaign is too large for its calibration to be computed in a request."""
    return Pair.objects.filter(campaign=campaign).count() > LIVE_PAIRS_MAX


def calibration_snapshot(campaign: Campaign) -> CalibrationSnapshot | None:
    return CalibrationSnapshot.objects.filter(campaign=campaign).first()


def snapshot_versions(snapshot: CalibrationSnapshot) -> list[GraderVersion]:
    """The grader versions a snapshot has figures of (still existing), by grader and number."""
    ids = [int(pk) for pk in snapshot.figures.get("versions", {})]
    return list(
        GraderVersion.objects.filter(pk__in=ids)
        .select_related("grader", "policy_version")
        .order_by("grader__name", "number")
    )


def calibration_refresh_request(*, campaign: Campaign) -> CalibrationSnapshot:
    """Ask a worker to recompute the campaign's snapshot (once: a recomputation already on its
    way is not asked again until :data:`REFRESH_PATIENCE` has passed)."""
    now = timezone.now()
    with transaction.atomic():
        snapshot, _ = CalibrationSnapshot.objects.select_for_update().get_or_create(
            campaign=campaign
        )
        if snapshot.refreshing and snapshot.requested_at > now - REFRESH_PATIENCE:  # type: ignore[operator]
            return snapshot
        snapshot.requested_at = now
        snapshot.save(update_fields=["requested_at"])
        campaign_id = campaign.pk
        transaction.on_commit(lambda: enqueue_calibration_refresh(campaign_id))
    return snapshot


def calibration_snapshot_refresh(*, campaign_id: int) -> CalibrationSnapshot | None:
    """Compute a campaign's calibration figures and store them as its snapshot, stamped with
    the moment the computation started (every grade and judgment before it is counted)."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return None
    started_at = timezone.now()
    started = time.monotonic()
    figures = campaign_figures(campaign=campaign, versions=graded_versions(campaign=campaign))
    snapshot, _ = CalibrationSnapshot.objects.update_or_create(
        campaign=campaign,
        defaults={
            "figures": figures,
            "computed_at": started_at,
            "compute_seconds": time.monotonic() - started,
        },
    )
    return snapshot
