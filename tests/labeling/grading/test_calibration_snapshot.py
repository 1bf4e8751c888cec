"""A large campaign's calibration comes from a snapshot a real worker computes: the page and
the API state its age and equal the figures computed in the request; the bootstrap interval
equals one computed resample by resample with ``krippendorff``."""

from __future__ import annotations

from typing import Any

import krippendorff
import numpy as np
import pytest
from django.urls import reverse

from labeling.grading import calibration
from labeling.models import CalibrationSnapshot
from labeling.quality.agreement import FIELDS, _numeric_domain, bootstrap_interval
from tests.conftest import wait_until

from .test_calibration import _planted


def _interval_by_resample(spec: Any, counts: np.ndarray, reps: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    units = counts.shape[0]
    estimates = []
    for _ in range(reps):
        sample = counts[rng.integers(0, units, size=units)]
        with np.errstate(all="ignore"):
            value = krippendorff.alpha(
                value_counts=sample,
                value_domain=_numeric_domain(spec),
                level_of_measurement=spec.level,
            )
        if np.isfinite(value):
            estimates.append(value)
    low, high = np.percentile(estimates, [2.5, 97.5])
    return [float(low), float(high)]


@pytest.mark.parametrize("spec", FIELDS, ids=[spec.name for spec in FIELDS])
def test_bootstrap_interval_equals_krippendorff_resample_by_resample(spec: Any) -> None:
    rng = np.random.default_rng(11)
    size = len(spec.domain)
    for units, raters in ((40, 2), (120, 2), (60, 4)):
        truth = rng.integers(0, size, units)
        counts = np.zeros((units, size))
        for rater in range(raters):
            noisy = np.clip(
                truth + rng.integers(-1, 2, units) * (rng.random(units) < 0.3), 0, size - 1
            )
            counts[np.arange(units), noisy if rater else truth] += 1
        expected = _interval_by_resample(spec, counts, reps=150, seed=4)
        assert bootstrap_interval(spec, counts, reps=150, seed=4) == pytest.approx(
            expected, abs=1e-9
        )


@pytest.mark.worker
def test_large_campaign_is_served_from_a_snapshot_a_worker_computes(
    celery_worker, campaign_with_pairs, personas, grader_version, client_for, monkeypatch
) -> None:
    _planted(campaign_with_pairs, personas, grader_version)
    monkeypatch.setattr(calibration, "LIVE_PAIRS_MAX", 0)  # every campaign counts as large
    live = calibration.grader_calibration(version=grader_version, campaign=campaign_with_pairs)
    url = reverse("labeling:campaign_calibration", args=[campaign_with_pairs.slug])
    api = f"/api/v1/campaigns/{campaign_with_pairs.slug}/calibration/"
    victor = client_for("victor")

    # The first visit asks a worker for the figures and says so; the API answers 202 meanwhile.
    first = victor.get(url).content.decode()
    assert 'id="calibration-snapshot"' in first and "Recomputing in a worker" in first
    assert 'id="calibration-empty"' not in first and 'hx-trigger="every 2s"' in first
    wait_until(
        lambda: CalibrationSnapshot.objects.filter(
            campaign=campaign_with_pairs, computed_at__isnull=False
        ).exists(),
        timeout=60,
    )
    snapshot = CalibrationSnapshot.objects.get(campaign=campaign_with_pairs)
    # The polled status card tells the page to reload once the figures are in.
    poll = victor.get(url, {"computed": ""}, headers={"HX-Request": "true"})
    assert poll.headers.get("HX-Refresh") == "true"

    page = victor.get(url).content.decode()
    assert 'id="calibration-age"' in page and " ago" in page and "Recompute now" in page
    assert f"{grader_version.grader.name} v{grader_version.number}" in page
    assert page.count('class="calibration-confusion"') == len(FIELDS)
    body = client_for("rita").get(api, {"grader": grader_version.grader.name}).json()
    assert body["computed_at"] is not None
    for spec in FIELDS:
        for key in ("alpha", "kappa", "items", "human_alpha", "disagreement_count"):
            assert body["fields"][spec.name][key] == live[spec.name][key], (spec.name, key)
        assert body["fields"][spec.name]["ci95"] == pytest.approx(live[spec.name]["ci95"])
    # A category is a part of the campaign: computed in the request, not from the snapshot.
    part = (
        client_for("rita")
        .get(api, {"grader": grader_version.grader.name, "intent": "benign"})
        .json()
    )
    assert part["computed_at"] is None

    # Recompute: a worker replaces the snapshot with a newer one.
    assert (
        victor.post(
            reverse("labeling:campaign_calibration_refresh", args=[campaign_with_pairs.slug])
        ).status_code
        == 302
    )
    wait_until(
        lambda: CalibrationSnapshot.objects.get(pk=snapshot.pk).computed_at > snapshot.computed_at,
        timeout=60,
    )
    assert (
        client_for("anna")
        .post(reverse("labeling:campaign_calibration_refresh", args=[campaign_with_pairs.slug]))
        .status_code
        == 403
    )


@pytest.mark.django_db
def test_a_finished_grading_run_asks_for_a_large_campaigns_recompute(
    campaign_with_pairs, grader_version, monkeypatch
) -> None:
    from labeling.grading.runs import run_finalise
    from labeling.models import GradingRun

    run = GradingRun.objects.create(
        campaign=campaign_with_pairs, grader_version=grader_version, status="running"
    )
    assert run_finalise(run_id=run.pk) == "completed"
    assert not CalibrationSnapshot.objects.exists()  # a small campaign is computed live
    monkeypatch.setattr(calibration, "LIVE_PAIRS_MAX", 0)
    run = GradingRun.objects.create(
        campaign=campaign_with_pairs, grader_version=grader_version, status="running"
    )
    assert run_finalise(run_id=run.pk) == "completed"
    snapshot = CalibrationSnapshot.objects.get(campaign=campaign_with_pairs)
    assert snapshot.refreshing and snapshot.computed_at is None
    assert run_finalise(run_id=run.pk) == "completed"  # closed once: asked once
    assert CalibrationSnapshot.objects.get(pk=snapshot.pk).requested_at == snapshot.requested_at
