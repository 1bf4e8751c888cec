"""Celery tasks of the quality area: take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from .snapshots import dashboard_snapshot_refresh


@shared_task(name="labeling.quality.dashboard_refresh", ignore_result=True)
def dashboard_refresh(campaign_id: int, dashboard: str) -> None:
    """Recompute one dashboard of one campaign (safe to run twice: it overwrites)."""
    from labeling.models import Campaign

    if not Campaign.objects.filter(pk=campaign_id).exists():
        return  # the campaign was deleted after the request
    dashboard_snapshot_refresh(campaign_id=campaign_id, dashboard=dashboard)
