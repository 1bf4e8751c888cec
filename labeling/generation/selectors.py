"""Reads for generation: endpoints, runs and a run's live progress."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from ..models import Candidate, GenerationRun, GenerationTask, ModelEndpoint


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
    by_status = dict(
        GenerationTask.objects.filter(run=run)
        .order_by()
        .values_list("status")
        .annotate(total=Count("pk"))
        .values_list("status", "total")
    )
    errors = list(
        GenerationTask.objects.filter(run=run)
        .exclude(error_kind="")
        .order_by()
        .values("error_kind")
        .annotate(total=Count("pk"))
        .order_by("-total")
    )
    finished = run.succeeded + run.failed
    planned = run.planned
    percent = 100.0 * finished / planned if planned else (100.0 if not run.is_active else 0.0)
    end = run.finished_at or timezone.now()
    elapsed = (end - run.started_at).total_seconds() if run.started_at else 0.0
    rate = finished / elapsed if elapsed > 0 else 0.0
    remaining = max(planned - finished, 0)
    eta = remaining / rate if rate > 0 and run.is_active else None
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
        "by_status": {status: by_status.get(status, 0) for status in GenerationTask.Status.values},
        "finished": finished,
        "remaining": remaining,
        "percent": percent,
        "elapsed_seconds": elapsed,
        "rate_per_second": rate,
        "eta_seconds": eta,
        "errors_by_kind": errors,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "latency_ms": {
            "p50": _percentile(latencies, 0.5),
            "p95": _percentile(latencies, 0.95),
            "p99": _percentile(latencies, 0.99),
        },
        "failures": failures,
    }
