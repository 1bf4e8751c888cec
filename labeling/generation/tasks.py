"""Celery tasks of the generation queue: they take ids and call a service, nothing else.

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from celery import shared_task
from celery.signals import worker_init, worker_process_init, worker_ready

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
    """Sweep: re-send lost work and finalise finished runs."""
    from .runs import run_recover

    return run_recover(run_id=run_id)


# How often an active run sweeps itself (see :func:`watch_run`).
WATCH_SECONDS = 10.0


@shared_task(name="labeling.generation.watch", ignore_result=True)
def watch_run(run_id: int) -> None:
    """A run's own sweeper, while it is queued or running: every few seconds, send again the
    work a dead worker took with it (once its lease has run out) and finalise the run when
    nothing is left. So a run never stays "running" once its work is done or lost, without
    anyone pressing Recover. Another watch of the same run is harmless (the sweep is
    idempotent); the chain ends with the run."""
    from .runs import run_is_active, run_recover

    run_recover(run_id=run_id)
    if run_is_active(run_id=run_id):
        enqueue_watch(run_id)


def enqueue_watch(
    run_id: int, countdown: float = WATCH_SECONDS, retry_policy: dict[str, Any] | None = None
) -> None:
    options: dict[str, Any] = {"retry_policy": retry_policy} if retry_policy else {}
    watch_run.apply_async(args=(run_id,), countdown=countdown, **options)


@worker_ready.connect
def _watch_active_runs(**kwargs: Any) -> None:
    """A worker that starts (perhaps in place of one that died holding a run's next watch)
    starts a watch for every active run."""
    from .runs import active_run_ids

    try:
        for run_id in active_run_ids():
            enqueue_watch(run_id, countdown=0)
    except Exception:  # the database or broker not up yet: the runs' own watches go on
        logging.getLogger(__name__).warning("could not start run watches", exc_info=True)


def enqueue_plan(run_id: int, retry_policy: dict[str, Any] | None = None) -> None:
    options: dict[str, Any] = {"retry_policy": retry_policy} if retry_policy else {}
    plan_run.apply_async(args=(run_id,), **options)


def enqueue_batches(batches: Iterable[list[int]], countdown: float | None = None) -> int:
    """Send one message per batch of planned ids over a single broker connection.

    Returns how many ids were sent.
    """
    sent = 0
    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = countdown
    with execute_batch.app.producer_or_acquire() as producer:
        for batch in batches:
            if batch:
                execute_batch.apply_async(args=(list(batch),), producer=producer, **options)
                sent += len(batch)
    return sent
