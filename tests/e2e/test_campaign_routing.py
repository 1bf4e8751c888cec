"""A researcher sets grader-first routing on the campaign form in a real browser, and the
annotator's first pair is then the one the grader was least sure of (Playwright + Chromium,
a real Celery worker recomputing the ranks)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from labeling.campaigns.services import campaign_create
from labeling.models import Assignment, Campaign
from tests.labeling.annotation.factories import build_pairs
from tests.labeling.conftest import offline_server, policy_version  # noqa: F401 - fixtures
from tests.labeling.grading.conftest import grader_version, grading_endpoint  # noqa: F401
from tests.labeling.routing.conftest import plant_pair

from .conftest import PAIR_SHOWN, open_pair_page, signed_in_page

pytestmark = pytest.mark.e2e

# Both orders' confidence per pair; the fourth is the least sure.
CONFIDENCES = (1.0, 0.9, 2 / 3, 1 / 3, 1.0)


def test_researcher_sets_grader_first_and_the_annotator_gets_the_least_confident_pair(
    live_server: Any,
    browser: Any,
    personas: Any,
    policy_version: Any,  # noqa: F811
    grader_version: Any,  # noqa: F811
    celery_worker: Any,
) -> None:
    campaign = campaign_create(
        name="Routed in a browser", slug="routed-browser", policy_version=policy_version,
        judgments_per_pair=1, open_now=True,
    )  # fmt: skip
    pairs = build_pairs(campaign, len(CONFIDENCES))
    for pair, confidence in zip(pairs, CONFIDENCES, strict=True):
        plant_pair(grader_version, pair, confidence=confidence)
    least_sure = pairs[CONFIDENCES.index(min(CONFIDENCES))]

    page = signed_in_page(browser, live_server, personas["rita"])
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"/campaigns/{campaign.slug}/edit/")
    page.select_option("select[name=routing]", "grader-first")
    page.select_option("select[name=routing_grader]", label=grader_version.grader.name)
    page.fill("input[name=human_budget]", "3")
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"**/campaigns/{campaign.slug}/")
    assert "Grader first" in page.locator("#routing-summary").inner_text()

    # The worker recomputes the ranks once the form's transaction commits.
    deadline = time.monotonic() + 60
    while Campaign.objects.get(pk=campaign.pk).routed_at is None:
        assert time.monotonic() < deadline, "the ranks were not recomputed"
        time.sleep(0.2)
    page.reload()
    summary = page.locator("#routing-summary").inner_text()
    assert "safety-judge v1" in summary and "0 of 3 used" in summary

    annotator = signed_in_page(browser, live_server, personas["anna"])
    open_pair_page(annotator, campaign.slug)
    assignment_id = annotator.locator(PAIR_SHOWN.split(" ")[0]).get_attribute("data-assignment")
    assert Assignment.objects.get(pk=int(assignment_id)).pair_id == least_sure.pk
    assert problems == []
