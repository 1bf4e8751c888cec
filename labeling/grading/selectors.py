"""Reads of graders: lists, the one fetch by name, versions, items to preview, and grading
runs with their progress."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from ..models import Campaign, Candidate, Grader, GraderVersion, GradingRun, GradingTask, Pair
from ..planned_runs import run_progress

PREVIEW_CHOICES = 10
"""How many candidates and pairs the preview offers to pick from."""


def grader_list() -> QuerySet[Grader]:
    """Every grader with its number of versions and its newest version number."""
    return Grader.objects.annotate(
        version_count=Count("versions"), current_number=Max("versions__number")
    ).order_by("name")


def grader_list_with_versions() -> QuerySet[Grader]:
    """Every grader with its versions prefetched, newest first, each with its number of
    grades (two queries whatever the number of graders)."""
    versions = (
        GraderVersion.objects.select_related(
            "endpoint", "policy_version", "created_by", "regraded_from"
        )
        .annotate(grade_count=Count("grades"))
        .order_by("-number")
    )
    return (
        Grader.objects.select_related("created_by")
        .prefetch_related(Prefetch("versions", queryset=versions))
        .order_by("name")
    )


def grader_get(*, name: str) -> Grader:
    """One grader by name (404 when there is none)."""
    return get_object_or_404(Grader, name=name)


def grader_versions(*, grader: Grader) -> QuerySet[GraderVersion]:
    """The grader's versions, newest first, each with its number of grades."""
    return (
        grader.versions.select_related("endpoint", "policy_version", "created_by", "regraded_from")
        .annotate(grade_count=Count("grades"))
        .order_by("-number")
    )


def grader_current_version(*, grader: Grader) -> GraderVersion:
    """The grader's newest version (what an edit starts from and a preview uses); every
    grader has one, made with it."""
    return grader_versions(grader=grader)[0]


def grader_version_get(*, grader: Grader, number: int) -> GraderVersion:
    """One version by number (404 when there is none)."""
    return get_object_or_404(grader_versions(grader=grader), number=number)


def candidate_for_grading(*, candidate_id: int) -> Candidate:
    """A candidate with its prompt (404 when there is none)."""
    return get_object_or_404(Candidate.objects.select_related("prompt"), pk=candidate_id)


def pair_for_grading(*, pair_id: int) -> Pair:
    """A pair with its prompt and both candidates (404 when there is none)."""
    return get_object_or_404(
        Pair.objects.select_related("prompt", "candidate_a", "candidate_b"), pk=pair_id
    )


def preview_candidates(*, campaign: Campaign) -> QuerySet[Candidate]:
    """The campaign's first candidates, to pick one to preview."""
    return Candidate.objects.filter(prompt__campaign=campaign).select_related("prompt")[
        :PREVIEW_CHOICES
    ]


def preview_pairs(*, campaign: Campaign) -> QuerySet[Pair]:
    """The campaign's first pairs, to pick one to preview."""
    return Pair.objects.filter(campaign=campaign).select_related(
        "prompt", "candidate_a", "candidate_b"
    )[:PREVIEW_CHOICES]


def grading_run_list(*, grader: Grader | None = None) -> QuerySet[GradingRun]:
    """Grading runs, newest first, with what the pages show of their campaign and grader."""
    runs = GradingRun.objects.select_related("campaign", "grader_version__grader").order_by(
        "-created_at"
    )
    return runs.filter(grader_version__grader=grader) if grader is not None else runs


def grading_run_get(*, run_id: int) -> GradingRun:
    """One grading run (404 when there is none)."""
    return get_object_or_404(
        GradingRun.objects.select_related(
            "campaign",
            "grader_version__grader",
            "grader_version__endpoint",
            "grader_version__policy_version",
            "regrade_of",
        ),
        pk=run_id,
    )


def grading_run_progress(*, run: GradingRun) -> dict[str, Any]:
    """A run's progress (see ``planned_runs.run_progress``) and its first failures."""
    failures = list(
        GradingTask.objects.filter(run=run, status=GradingTask.Status.FAILED).order_by("id")[:50]
    )
    return {
        **run_progress(run, GradingTask, run.graded),
        "failures": failures,
    }
