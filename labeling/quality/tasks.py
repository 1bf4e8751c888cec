"""Celery tasks of the quality area (``default`` queue): they take ids and call a service.

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

from celery import shared_task

from labeling.broker import QUICK_RETRY


@shared_task(name="labeling.quality.consensus", ignore_result=True)
def consensus(run_id: int) -> None:
    """Compute a campaign's queued consensus run."""
    from .consensus import consensus_run_execute

    consensus_run_execute(run_id=run_id)


def enqueue_consensus(run_id: int) -> None:
    """Publish with the quick retry: a request waits on it (see ``labeling.broker``)."""
    consensus.apply_async(args=(run_id,), retry_policy=QUICK_RETRY)
