"""Celery tasks of the generation queue: they take ids and call a service, nothing else.

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from celery import shared_task
from celery.signals import worker_init, worker_process_init

from ..broker import send_batches
from .client import warm_up


@worker_init.connect
@worker_process_init.connect
def _client_warm_up(**kwargs: Any) -> None:
    """A worker (or each prefork child) loads the model client before its first task."""
    try:
        warm_up()
    except Exception:  # only an optimisation: never stop a worker from starting
        logging.getLogger(__name__).warning("model client warm-up failed", exc_info=True)


@shared_task(name="labeling.generation.plan", ignore_result=True)
def plan_run(run_id: int) -> int:
    """Plan a run's candidates and fan them out."""
    from .runs import run_plan

    return run_plan(run_id=run_id)


@shared_task(name="labeling.generation.execute_batch", ignore_result=True)
def execute_batch(planned_ids: list[int]) -> dict[str, int]:
    """Generate a batch of planned candidates, their calls at once (safe to deliver twice)."""
    from .executor import planned_batch_execute

    return planned_batch_execute(planned_ids=planned_ids)


@shared_task(name="labeling.generation.execute", ignore_result=True)
def execute_one(planned_id: int) -> str:
    """Generate one planned candidate (safe to deliver twice). Messages already queued that
    name this task still run; new work goes in batches (:func:`execute_batch`)."""
    from .executor import planned_execute

    return planned_execute(planned_id=planned_id)


@shared_task(name="labeling.generation.recover", ignore_result=True)
def recover(run_id: int | None = None) -> dict[str, int]:
    """Sweep: re-send lost work and finalise finished runs. Every worker runs it in-process
    every few seconds (config/sweeper.py); the Recover button sends it as a message."""
    from .runs import run_recover

    return run_recover(run_id=run_id)


def enqueue_plan(run_id: int, retry_policy: dict[str, Any] | None = None) -> None:
    options: dict[str, Any] = {"retry_policy": retry_policy} if retry_policy else {}
    plan_run.apply_async(args=(run_id,), **options)


def enqueue_batches(batches: Iterable[list[int]], countdown: float | None = None) -> int:
    """Send one message per batch of planned ids; returns how many ids were sent."""
    return send_batches(execute_batch, batches, countdown)
