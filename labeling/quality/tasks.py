"""Celery tasks of the quality area: take ids, call a service.

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

from celery import shared_task

from labeling.models import Campaign


@shared_task(name="labeling.quality.dashboard_refresh", ignore_result=True)
def dashboard_refresh(campaign_id: int, dashboard: str) -> None:
    """Recompute one dashboard of one campaign (safe to run twice: it overwrites)."""
    from .snapshots import dashboard_snapshot_refresh

    if not Campaign.objects.filter(pk=campaign_id).exists():
        return  # the campaign was deleted after the request
    dashboard_snapshot_refresh(campaign_id=campaign_id, dashboard=dashboard)
