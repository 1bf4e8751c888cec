"""Celery tasks of imports (routed to the ``default`` queue by name): they take ids and call a
service, nothing else.

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="labeling.imports.run_job", acks_late=True, ignore_result=True)
def run_job(job_id: str) -> str:
    """Run one import job by id (safe to deliver twice: only a queued job, or a running one
    whose worker stopped beating, is claimed)."""
    from .jobs import import_job_run

    job = import_job_run(job_id=job_id)
    return job.status if job is not None else "gone"


@shared_task(name="labeling.imports.recover", ignore_result=True)
def recover() -> dict[str, int]:
    """Sweep: send again the import jobs whose message or worker was lost."""
    from .jobs import import_jobs_recover

    return import_jobs_recover()


def enqueue_run(job_id: str, retry_policy: dict[str, Any] | None = None) -> None:
    options: dict[str, Any] = {"retry_policy": retry_policy} if retry_policy else {}
    run_job.apply_async(args=(job_id,), **options)
