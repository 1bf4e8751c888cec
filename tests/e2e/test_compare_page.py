"""A researcher opens the Compare page from the campaign page in a real browser: the charts
render, and the selector changes the figures (Playwright + Chromium)."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import make_user
from tests.labeling.compare.conftest import BETA, SAFE, Planted, planted  # noqa: F401
from tests.labeling.conftest import campaign, offline_server, policy_version  # noqa: F401

pytestmark = pytest.mark.e2e


@pytest.fixture
def researcher_session(transactional_db: None) -> str:
    client = Client()
    client.force_login(make_user("rhea", "researcher"))
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _win_rate(page: Any, first: str, second: str) -> str:
    row = page.locator("#head-to-head tbody tr", has_text=first).filter(has_text=second)
    return row.locator("td.win-rate").inner_text()


def test_compare_page_draws_charts_and_the_selector_changes_figures(
    live_server: Any,
    researcher_session: str,
    planted: Planted,  # noqa: F811
    browser: Any,
) -> None:
    urllib.request.urlopen(live_server.url + "/accounts/login/", timeout=120).close()
    context = browser.new_context(base_url=live_server.url)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": researcher_session,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    # Each selection computes its figures (bootstrap resamples) in the request.
    page.set_default_timeout(90_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(f"/campaigns/{planted.campaign.slug}/")
    page.get_by_role("link", name="Compare").click()
    page.locator("#head-to-head").wait_for()
    for chart in ("head_to_head", "ranking"):
        page.wait_for_function(
            'id => { const c = document.querySelector(`[data-chart="${id}"] canvas`);'
            " return !!(window.Chart && c && window.Chart.getChart(c)); }",
            arg=chart,
        )
    overall = _win_rate(page, SAFE, BETA)
    assert overall == "0.500"
    assert page.locator("#ranking tbody tr").count() == 3

    page.select_option("#compare-selector select[name=intent]", "benign")
    page.wait_for_function(
        "() => document.querySelector('#compare-labels').textContent.includes('intent benign')"
    )
    assert _win_rate(page, SAFE, BETA) == "0.000"
    assert "intent=benign" in page.url
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-chart=\"head_to_head\"] canvas');"
        " return !!(window.Chart && window.Chart.getChart(c)); }"
    )

    page.select_option("#compare-selector select[name=source]", "grader")
    page.wait_for_function(
        "() => document.querySelector('#compare-labels').textContent.includes('grader judge v1')"
    )
    csv_link = page.locator("#csv-head-to-head").get_attribute("href") or ""
    assert "source=grader" in csv_link and "intent=benign" in csv_link
    assert not problems, problems
    context.close()
