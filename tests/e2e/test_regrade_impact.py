"""A researcher re-grades under a newer policy version in a real browser (Playwright +
Chromium): the runs grade on a real Celery worker through the offline grader stand-in, the
impact report fills in until complete, the flips go to the review queue, and a reviewer finds
them there."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver

from labeling.grading import runs
from labeling.imports.candidates import candidate_import
from labeling.models import Campaign, ReviewRequest
from tests.conftest import wait_until
from tests.e2e.conftest import signed_in_page
from tests.labeling.conftest import (  # noqa: F401 - fixtures this test uses
    campaign,
    campaign_with_pairs,
    jsonl_bytes,
    offline_server,
    policy_version,
)
from tests.labeling.grading.conftest import grader_version, grading_endpoint  # noqa: F401
from tests.labeling.grading.test_regrade import WIDER_MAPPING, publish

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


@pytest.fixture
def graded(
    live_server: Any,
    celery_worker: Any,
    campaign_with_pairs: Campaign,  # noqa: F811
    grader_version: Any,  # noqa: F811
    offline_server: Any,  # noqa: F811
) -> Campaign:
    """Version 1 has graded the campaign, one answer of which the stand-in rates negligible."""
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    offline_server.configure(latency_ms=5, seed=7, grader_error_rate=0.0)
    candidate_import(
        campaign=campaign_with_pairs,
        source=jsonl_bytes(
            [
                {
                    "external_id": "p1",
                    "source": "model-d",
                    "completion": "Toxins are dangerous; read about history and prevention.",
                }
            ]
        ),
        file_format="jsonl",
    )
    run = runs.run_create(campaign=campaign_with_pairs, grader_version=grader_version)

    def finished() -> bool:
        run.refresh_from_db()
        return not run.is_active

    wait_until(finished, timeout=120, interval=0.3)
    assert run.status == "completed"
    return campaign_with_pairs


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def test_researcher_regrades_and_sends_flips_to_a_reviewer(
    browser: Any,
    live_server: Any,
    graded: Campaign,
    grader_version: Any,  # noqa: F811
    personas: Any,
) -> None:
    newer = publish(grader_version.policy_version, mapping=WIDER_MAPPING)
    page = signed_in_page(browser, live_server, personas["rita"])
    problems = _watch(page)

    page.goto("/graders/safety-judge/")
    form = page.locator("#regrade-form")
    form.locator("select[name=policy_version]").select_option(str(newer.number))
    form.locator("select[name=campaign]").select_option(graded.slug)
    form.locator("#regrade-button").click()
    page.wait_for_url("**/graders/safety-judge/impact/1/2/?campaign=*")
    # The runs grade on the worker; htmx refreshes the report until it is complete.
    page.locator("#impact-complete").wait_for(timeout=120_000)
    flipped = page.locator("#impact-candidates tr[data-candidate]")
    assert flipped.count() == 1
    assert "unsafe → safe" in flipped.first.inner_text()
    assert page.locator('#impact-counts tr[data-kind="candidates"] td').nth(1).inner_text() == "1"

    page.locator("#impact-send-button").click()
    page.wait_for_url("**/graders/safety-judge/impact/1/2/?campaign=*")
    assert "sent to the review queue" in page.locator("body").inner_text()
    assert "in the review queue" in flipped.first.inner_text()
    sent = ReviewRequest.objects.count()
    assert sent >= 1
    page.locator("#impact-send-button").click()
    page.wait_for_url("**/graders/safety-judge/impact/1/2/?campaign=*")
    assert f"0 pairs sent to the review queue; {sent} were already there." in (
        page.locator("body").inner_text()
    )
    assert ReviewRequest.objects.count() == sent
    assert problems == []

    reviewer = signed_in_page(browser, live_server, personas["victor"])
    reviewer_problems = _watch(reviewer)
    reviewer.goto(f"/review/?campaign={graded.slug}")
    queue = reviewer.locator("#review-queue")
    queue.wait_for()
    reason = f"policy v{newer.number} re-grade: candidate"
    rows = queue.locator("tbody tr", has_text=reason)
    assert rows.count() == sent
    rows.first.locator("a", has_text="Review").click()
    reviewer.wait_for_url("**/review/pairs/**")
    assert reason in reviewer.locator("#review-requests").inner_text()
    assert reviewer_problems == []
