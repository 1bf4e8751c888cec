"""Celery tasks of the grading queue: they take ids and call a service, nothing else.

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import shared_task

from ..broker import send_batches


@shared_task(name="labeling.grading.plan", ignore_result=True)
def plan_run(run_id: int) -> int:
    """Plan a grading run's items and fan them out."""
    from .runs import run_plan

    return run_plan(run_id=run_id)


@shared_task(name="labeling.grading.execute_batch", ignore_result=True)
def execute_batch(planned_ids: list[int]) -> dict[str, int]:
    """Grade a batch of planned items, their calls at once (safe to deliver twice)."""
    from .executor import planned_batch_execute

    return planned_batch_execute(planned_ids=planned_ids)


@shared_task(name="labeling.grading.recover", ignore_result=True)
def recover(run_id: int | None = None) -> dict[str, int]:
    """Sweep: re-send lost grading work and finalise finished runs. Every worker runs it
    in-process every few seconds (config/sweeper.py)."""
    from .runs import run_recover

    return run_recover(run_id=run_id)


@shared_task(name="labeling.grading.calibration_refresh", ignore_result=True)
def calibration_refresh(campaign_id: int) -> None:
    """Recompute a large campaign's calibration snapshot."""
    from .calibration import calibration_snapshot_refresh

    calibration_snapshot_refresh(campaign_id=campaign_id)


def enqueue_calibration_refresh(campaign_id: int) -> None:
    calibration_refresh.delay(campaign_id)


def enqueue_plan(run_id: int, retry_policy: dict[str, Any] | None = None) -> None:
    options: dict[str, Any] = {"retry_policy": retry_policy} if retry_policy else {}
    plan_run.apply_async(args=(run_id,), **options)


def enqueue_batches(batches: Iterable[list[int]], countdown: float | None = None) -> int:
    """Send one message per batch of planned ids; returns how many ids were sent."""
    return send_batches(execute_batch, batches, countdown)
