"""Large campaigns: dashboards come from snapshots a real Celery worker computes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import DashboardSnapshot
from labeling.quality import snapshots
from tests.conftest import wait_until

from .conftest import Builder


@pytest.fixture
def large(monkeypatch, build: Builder, personas):
    """A campaign treated as large (the inline limit lowered to 1 judgment)."""
    monkeypatch.setattr(snapshots, "INLINE_LIMIT", 1)
    prompt = build.prompt(intent="malicious")
    pair = build.pair(
        build.candidate(prompt, style="refusal", model="m"),
        build.candidate(prompt, style="safe", model="m"),
    )
    build.judge(pair, personas["anna"], b=("safe_completion", "low", 3), preference=1)
    build.judge(pair, personas["ben"], b=("safe_completion", "none", 4), preference=2)
    return build.campaign


@pytest.mark.worker
def test_worker_computes_the_first_snapshot_and_refreshes_stale_ones(
    celery_worker, client_for, large
) -> None:
    rita = client_for("rita")
    url = reverse("labeling:dashboards")
    first = rita.get(url, {"campaign": large.slug, "view": "safety"})
    assert first.status_code == 200
    assert b"Computing the figures" in first.content
    assert b'hx-trigger="every 2s"' in first.content

    def computed() -> bool:
        return (
            DashboardSnapshot.objects.filter(campaign=large, dashboard="safety")
            .exclude(data={})
            .exists()
        )

    wait_until(computed, timeout=60)
    page = rita.get(url, {"campaign": large.slug, "view": "safety"}, HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    assert b'id="dashboard-body"' in page.content and b"<html" not in page.content
    snapshot = DashboardSnapshot.objects.get(campaign=large, dashboard="safety")
    rows = snapshot.data["tables"]["safety_by_intent"]["rows"]
    safe = next(row for row in rows if row["style"] == "safe")
    assert safe["safe_share"] == 0.5 and safe["unsafe_low"] == 1.0

    # a stale snapshot is shown as it is, and refreshed once by the worker
    old = timezone.now() - timedelta(minutes=10)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(computed_at=old)
    stale = rita.get(url, {"campaign": large.slug, "view": "safety"})
    assert b"Figures as of" in stale.content
    wait_until(lambda: DashboardSnapshot.objects.get(pk=snapshot.pk).computed_at > old, timeout=60)
    assert DashboardSnapshot.objects.get(pk=snapshot.pk).refresh_requested_at is None


def test_refresh_is_requested_once(large, client_for, django_capture_on_commit_callbacks) -> None:
    snapshot = snapshots.dashboard_snapshot_refresh(campaign_id=large.pk, dashboard="modes")
    with django_capture_on_commit_callbacks() as callbacks:
        assert snapshots.dashboard_snapshot_request_refresh(snapshot=snapshot) is True
        assert snapshots.dashboard_snapshot_request_refresh(snapshot=snapshot) is False
    assert len(callbacks) == 1
    # the CSV of a large campaign is read from its snapshot
    response = client_for("victor").get(
        reverse("labeling:dashboard_csv", args=["reward_by_style_model"]),
        {"campaign": large.slug},
    )
    assert response.status_code == 200
    assert response.content.decode().splitlines()[0] == "style,model,ratings,mean_s,mean_h,mean_r"
