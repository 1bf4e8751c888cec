"""Celery tasks of the exports app (routed to the ``exports`` queue by name)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="exports.run_export", acks_late=True)
def run_export(export_id: str) -> str:
    """Run one export by id; a failure marks the export failed with the reason."""
    export = services.export_run(export_id=export_id)
    return str(export.status)
