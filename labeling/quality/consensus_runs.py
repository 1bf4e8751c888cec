"""Reads of stored consensus runs for the API, the annotator dashboards and the pair page.

A run's ``summary`` holds the per-field figures and reliabilities; the label distribution and
the quality figures are read from its ``labels`` (one entry per item) when a single run is
shown, never for lists.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from labeling.models import Campaign, ConsensusRun

from .consensus import CONSENSUS_FIELDS, FIELD_DOMAINS, LOW_QUALITY, rater_reliabilities

LIST_LIMIT = 200
"""How many of a campaign's runs a list answers, newest first."""

RELIABILITY_COLUMNS: dict[str, str] = {name: f"reliability_{name}" for name in CONSENSUS_FIELDS}
"""The annotators dashboard's column holding each field's consensus reliability."""


def consensus_run_list(*, campaign: Campaign) -> QuerySet[ConsensusRun]:
    """A campaign's runs, newest first, without their labels."""
    return (
        ConsensusRun.objects.filter(campaign=campaign)
        .select_related("campaign", "requested_by")
        .defer("labels")
        .order_by("-created_at", "-id")[:LIST_LIMIT]
    )


def consensus_run_get(*, run_id: int) -> ConsensusRun | None:
    """One run with its labels, or None."""
    return ConsensusRun.objects.select_related("campaign", "requested_by").filter(pk=run_id).first()


def latest_consensus_run(*, campaign: Campaign) -> ConsensusRun | None:
    """The campaign's newest finished run with its labels, or None."""
    return _latest_done(campaign).select_related("campaign", "requested_by").first()


def label_figures(labels: dict[str, list[Any]], name: str) -> dict[str, Any]:
    """One field's consensus labels in figures: how many items hold each value (every value
    of the field listed, in the rubric's order) and the quality's mean, median, minimum and
    how many items fall under :data:`LOW_QUALITY`. ``labels`` maps item -> [consensus,
    quality, majority] as a run stores them."""
    counts = Counter(str(entry[0]) for entry in labels.values())
    qualities = [float(entry[1]) for entry in labels.values()]
    return {
        "distribution": {str(value): counts.get(str(value), 0) for value in FIELD_DOMAINS[name]},
        "quality": {
            "mean": statistics.fmean(qualities) if qualities else None,
            "median": statistics.median(qualities) if qualities else None,
            "min": min(qualities) if qualities else None,
            "low_quality_threshold": LOW_QUALITY,
            "low_quality_items": sum(1 for quality in qualities if quality < LOW_QUALITY),
        },
    }


def run_results(run: ConsensusRun) -> list[dict[str, Any]]:
    """Each field's figures of a run: the stored summary (counts, raters, agreement with the
    majority vote, flagged items, or the reason nothing was modelled) with the label
    distribution and quality figures. Empty until the run is done."""
    if run.status != ConsensusRun.Status.DONE:
        return []
    results = []
    for name in CONSENSUS_FIELDS:
        summary = run.summary.get(name) or {}
        results.append(
            {
                "field": name,
                "problem": summary.get("problem"),
                "items": summary.get("items", 0),
                "single_rater_items": summary.get("single_rater_items", 0),
                "judgments": summary.get("judgments", 0),
                "agreement_with_majority": summary.get("agreement_with_majority"),
                "differs_from_majority": summary.get("differs_from_majority", 0),
                "flagged": summary.get("flagged", 0),
                **label_figures((run.labels or {}).get(name) or {}, name),
            }
        )
    return results


def run_raters(run: ConsensusRun) -> list[dict[str, Any]]:
    """Every rater of a run (annotators, imported labels, grader versions) with their
    reliability and item count per field, by name."""
    items: dict[str, dict[str, int]] = {}
    for name in CONSENSUS_FIELDS:
        for row in (run.summary.get(name) or {}).get("raters", []):
            items.setdefault(row["rater"], {})[name] = row["items"]
    return [
        {"rater": rater, "reliability": reliability, "items": items.get(rater, {})}
        for rater, reliability in sorted(rater_reliabilities(run).items())
    ]


def _latest_done(campaign: Campaign) -> QuerySet[ConsensusRun]:
    return ConsensusRun.objects.filter(campaign=campaign, status=ConsensusRun.Status.DONE).order_by(
        "-computed_at", "-id"
    )


def latest_consensus_time(*, campaign: Campaign) -> datetime | None:
    """When the campaign's newest finished run was computed, or None without one."""
    return _latest_done(campaign).values_list("computed_at", flat=True).first()


def annotator_reliabilities(
    *, campaign: Campaign
) -> tuple[datetime | None, dict[str, dict[str, float]]]:
    """When the campaign's newest finished run was computed (None without one) and each
    rater's reliability per field in it (annotators by username)."""
    run = _latest_done(campaign).only("computed_at", "summary").first()
    if run is None:
        return None, {}
    return run.computed_at, rater_reliabilities(run)
