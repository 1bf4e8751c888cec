"""A reviewer reads a grader's calibration in a real browser and follows a disagreement to the
pair's review page (Playwright + Chromium)."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from labeling.models import Campaign
from tests.conftest import make_user
from tests.labeling.conftest import (  # noqa: F401 - fixtures this test uses
    campaign,
    campaign_with_pairs,
    offline_server,
    policy_version,
)
from tests.labeling.grading.conftest import grader_version, grading_endpoint  # noqa: F401
from tests.labeling.grading.test_calibration import _planted

pytestmark = pytest.mark.e2e


@pytest.fixture
def reviewer_session(transactional_db: None) -> str:
    client = Client()
    client.force_login(make_user("vera", "reviewer"))
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def calibrated(
    campaign_with_pairs: Campaign,  # noqa: F811
    personas: Any,
    grader_version: Any,  # noqa: F811
) -> Campaign:
    _planted(campaign_with_pairs, personas, grader_version)
    return campaign_with_pairs


def test_reviewer_reads_calibration_and_opens_a_disagreeing_pair(
    live_server: Any, reviewer_session: str, calibrated: Campaign, browser: Any
) -> None:
    urllib.request.urlopen(live_server.url + "/accounts/login/", timeout=120).close()
    context = browser.new_context(base_url=live_server.url)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": reviewer_session, "url": live_server.url}]
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    response = page.goto(f"/campaigns/{calibrated.slug}/calibration/")
    assert response is not None and response.ok, (response and response.status, page.content())
    assert page.locator("#calibration-versions").count() == 1, page.content()[:4000]
    assert page.locator("#calibration-versions tbody tr").count() == 2  # the version, the ceiling
    assert page.locator("table.calibration-confusion").count() == 4
    severity = page.locator('section.calibration-disagreements[data-field="severity"]')
    severity.locator("a").first.click()
    page.wait_for_url("**/review/pairs/**")
    assert page.locator("h1").count() == 1
    assert problems == []
