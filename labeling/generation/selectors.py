"""Reads for generation: endpoints, runs and a run's live progress."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from ..models import Candidate, GenerationRun, GenerationTask, ModelEndpoint
from ..planned_runs import run_progress as run_progress_figures


def endpoint_list() -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.all()


def run_list(*, campaign_id: int | None = None) -> QuerySet[GenerationRun]:
    runs = GenerationRun.objects.select_related("campaign").prefetch_related("endpoints")
    if campaign_id is not None:
        runs = runs.filter(campaign_id=campaign_id)
    return runs


def run_get(*, run_id: int) -> GenerationRun:
    return get_object_or_404(run_list(), pk=run_id)


def _percentile(sorted_values: list[int], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = (len(sorted_values) - 1) * fraction
    low, high = math.floor(index), math.ceil(index)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (index - low)


def run_progress(*, run: GenerationRun) -> dict[str, Any]:
    """Everything the run page shows: counts, rate, ETA, errors by kind, tokens, latency."""
    latencies = sorted(
        value
        for value in Candidate.objects.filter(run=run)
        .exclude(latency_ms=None)
        .values_list("latency_ms", flat=True)[:100_000]
        if value is not None
    )
    failures = list(
        GenerationTask.objects.filter(run=run, status=GenerationTask.Status.FAILED)
        .select_related("prompt", "endpoint")
        .order_by("id")[:50]
    )
    return {
        **run_progress_figures(run, GenerationTask, run.succeeded),
        "latency_ms": {
            "p50": _percentile(latencies, 0.5),
            "p95": _percentile(latencies, 0.95),
            "p99": _percentile(latencies, 0.99),
        },
        "failures": failures,
    }
