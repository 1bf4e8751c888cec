"""Celery tasks of the exports app (routed to the ``exports`` queue by name).

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="exports.run_export", acks_late=True)
def run_export(export_id: str) -> str:
    """Run one export by id; a failure marks the export failed with the reason."""
    from . import services

    export = services.export_run(export_id=export_id)
    return str(export.status)


@shared_task(name="exports.learnability", acks_late=True)
def run_learnability(export_id: str) -> str:
    """Compute a completed preference export's learnability report and write it in."""
    from .learnability import services

    export = services.export_learnability_run(export_id=export_id)
    return str(export.learnability_status)


@shared_task(name="exports.learnability_estimate", acks_late=True)
def run_learnability_estimate(estimate_id: str) -> str:
    """Compute the learnability estimate of a selection (the export form's preview)."""
    from .learnability import services

    estimate = services.learnability_estimate_run(estimate_id=estimate_id)
    return str(estimate.status)


@shared_task(name="exports.recover", ignore_result=True)
def recover() -> dict[str, int]:
    """Sweep: send again the exports, learnability reports and estimates whose message or
    worker is lost. Every worker runs it in-process every few seconds (config/sweeper.py)."""
    from . import services
    from .learnability import services as learnability_services

    figures = services.exports_recover()
    figures.update(learnability_services.learnability_recover())
    return figures
