"""Dashboard snapshots: computed by a worker, read by pages, CSV downloads and the API.

A page never scans a million judgments inside its request: it reads the dashboard's snapshot.
When the snapshot is older than ``SNAPSHOT_MAX_AGE`` the page still answers with it (saying how
old it is) and asks a worker to refresh it, once — a conditional UPDATE on
``refresh_requested_at`` decides which request enqueues. A campaign small enough to compute in
a blink (up to ``INLINE_LIMIT`` judgments) is always computed inline, so its figures are current.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.models import Campaign, DashboardSnapshot, Judgment

from . import dashboards as dashboard_module
from .tasks import dashboard_refresh

SNAPSHOT_MAX_AGE = timedelta(seconds=60)
# A refresh asked for this long ago without result is asked for again (its worker died).
REFRESH_RETRY_AFTER = timedelta(minutes=5)
INLINE_LIMIT = 20_000


def snapshot_data(*, campaign: Campaign, dashboard: str) -> dict[str, Any]:
    """Compute one dashboard: JSON-ready tables (columns and rows) and chart specifications."""
    frames = dashboard_module.dashboard_tables(campaign=campaign, slug=dashboard)
    return {
        "judgments": _judgment_total(dashboard, frames),
        "tables": {
            name: {
                "columns": list(frame.columns),
                "rows": dashboard_module.frame_records(frame),
            }
            for name, frame in frames.items()
        },
        "charts": dashboard_module.dashboard_charts(dashboard, frames),
    }


def _judgment_total(dashboard: str, frames: dict[str, Any]) -> int:
    """How many judgments the figures cover (each judgment rates two sides)."""
    if dashboard == "annotators":
        return int(frames["annotators"]["judgments"].sum())
    first = next(iter(frames.values()))
    return int(first["ratings"].sum()) // 2 if "ratings" in first else 0


def dashboard_snapshot_refresh(*, campaign_id: int, dashboard: str) -> DashboardSnapshot:
    """Compute a dashboard now and store it as the campaign's snapshot (the worker's job)."""
    campaign = Campaign.objects.select_related("policy_version").get(pk=campaign_id)
    started = time.perf_counter()
    data = snapshot_data(campaign=campaign, dashboard=dashboard)
    duration_ms = int((time.perf_counter() - started) * 1000)
    snapshot, _ = DashboardSnapshot.objects.update_or_create(
        campaign=campaign,
        dashboard=dashboard,
        defaults={
            "data": data,
            "computed_at": timezone.now(),
            "duration_ms": duration_ms,
            "refresh_requested_at": None,
        },
    )
    return snapshot


def _is_small(campaign: Campaign, snapshot: DashboardSnapshot | None = None) -> bool:
    if snapshot is not None and snapshot.data.get("judgments", 0) > INLINE_LIMIT:
        return False  # known large from its last computation: no scan needed
    # OFFSET … LIMIT 1 stops early and sends one row at most, even at a million judgments.
    return (
        not Judgment.objects.filter(pair__prompt__campaign=campaign)
        .values("id")[INLINE_LIMIT : INLINE_LIMIT + 1]
        .exists()
    )


def dashboard_snapshot_request_refresh(*, snapshot: DashboardSnapshot) -> bool:
    """Ask a worker to refresh ``snapshot`` unless someone already did; True if enqueued."""
    now = timezone.now()
    claimed = (
        DashboardSnapshot.objects.filter(pk=snapshot.pk)
        .filter(
            Q(refresh_requested_at__isnull=True)
            | Q(refresh_requested_at__lt=now - REFRESH_RETRY_AFTER)
        )
        .update(refresh_requested_at=now)
    )
    if claimed:
        campaign_id, dashboard = snapshot.campaign_id, snapshot.dashboard
        transaction.on_commit(lambda: dashboard_refresh.delay(campaign_id, dashboard))
    return bool(claimed)


def dashboard_snapshot_for_page(
    *, campaign: Campaign, dashboard: str, force_refresh: bool = False
) -> DashboardSnapshot | None:
    """The snapshot a page shows. Small campaign: computed now. Otherwise the stored one (a
    refresh is enqueued when it is stale or ``force_refresh``), or None while the first
    computation runs (the page polls)."""
    snapshot = DashboardSnapshot.objects.filter(campaign=campaign, dashboard=dashboard).first()
    if _is_small(campaign, snapshot):
        # Small campaigns are always computed now: figures are current, the cost is a blink.
        return dashboard_snapshot_refresh(campaign_id=campaign.pk, dashboard=dashboard)
    if snapshot is None:
        snapshot, _ = DashboardSnapshot.objects.get_or_create(
            campaign=campaign,
            dashboard=dashboard,
            defaults={"data": {}, "computed_at": timezone.now()},
        )
    if not snapshot.data:  # the first computation is still running
        dashboard_snapshot_request_refresh(snapshot=snapshot)
        return None
    if force_refresh or timezone.now() - snapshot.computed_at > SNAPSHOT_MAX_AGE:
        dashboard_snapshot_request_refresh(snapshot=snapshot)
    return snapshot


def snapshot_table(*, campaign: Campaign, table: str) -> tuple[list[str], list[dict[str, Any]]]:
    """One table's columns and rows: the snapshot the page shows (computed now for a small
    campaign or when there is none yet)."""
    dashboard = dashboard_module.TABLE_TO_DASHBOARD[table]
    snapshot = DashboardSnapshot.objects.filter(campaign=campaign, dashboard=dashboard).first()
    if snapshot is None or not snapshot.data or _is_small(campaign, snapshot):
        snapshot = dashboard_snapshot_refresh(campaign_id=campaign.pk, dashboard=dashboard)
    entry = snapshot.data["tables"][table]
    return entry["columns"], entry["rows"]
