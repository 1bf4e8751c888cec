"""Celery tasks of the generation queue: they take ids and call a service, nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import shared_task

from . import services


@shared_task(name="labeling.generation.plan", ignore_result=True)
def plan_run(run_id: int) -> int:
    """Plan a run's tasks and fan them out."""
    return services.run_plan(run_id=run_id)


@shared_task(name="labeling.generation.execute", ignore_result=True)
def execute_task(task_id: int) -> str:
    """Generate one planned candidate (safe to deliver twice)."""
    return services.task_execute(task_id=task_id)


@shared_task(name="labeling.generation.recover", ignore_result=True)
def recover(run_id: int | None = None) -> dict[str, int]:
    """Sweep: re-send lost work and finalise finished runs."""
    return services.run_recover(run_id=run_id)


def enqueue_plan(run_id: int) -> None:
    plan_run.apply_async(args=(run_id,))


def enqueue_tasks(ids: Iterable[int], countdown: float | None = None) -> int:
    """Send one message per task id over a single broker connection; returns how many."""
    sent = 0
    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = countdown
    with execute_task.app.producer_or_acquire() as producer:
        for task_id in ids:
            execute_task.apply_async(args=(task_id,), producer=producer, **options)
            sent += 1
    return sent
