"""A researcher computes a campaign's consensus on its quality page and reads the raters'
reliabilities there and on the annotators dashboard; a reviewer opens a "likely label error"
from the queue and reads its evidence (Playwright + Chromium)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.labeling.conftest import policy_version  # noqa: F401 - a fixture these tests use
from tests.labeling.quality.conftest import (  # noqa: F401 - fixtures these tests use
    annotators,
    build,
    quality_campaign,
)
from tests.labeling.quality.test_consensus import rated  # noqa: F401

from .conftest import signed_in_page

pytestmark = pytest.mark.e2e


def test_researcher_computes_consensus_and_reviewer_opens_a_likely_error(
    live_server: Any,
    browser: Any,
    personas: Any,
    build: Any,  # noqa: F811
    rated: Any,  # noqa: F811
) -> None:
    slug = build.campaign.slug
    page = signed_in_page(browser, live_server, personas["rita"])
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"/quality/campaigns/{slug}/")
    assert "Not computed yet" in page.locator("#consensus").inner_text()
    page.get_by_role("button", name="Compute consensus").click()
    page.locator("#rater-reliabilities").wait_for()
    rows = page.locator("#rater-reliabilities tbody tr")
    assert rows.count() == 4
    assert "rater4" in page.locator("#rater-reliabilities").inner_text()
    assert "Computed" in page.locator("#consensus").inner_text()
    # The annotators dashboard lists each annotator's reliability from that run.
    page.goto(f"/dashboards/?campaign={slug}&view=annotators")
    table = page.locator('table[data-table="annotators"]')
    assert "Reliability · Severity" in table.locator("thead").inner_text()
    cells = table.locator("tbody tr", has_text="rater4").locator("td").all_inner_texts()
    reliabilities = [float(cell) for cell in cells[-3:]]  # the last columns, one per field
    assert all(0 < value <= 1 for value in reliabilities)
    assert "in the consensus computed" in page.locator("#consensus-reliability-note").inner_text()

    reviewer = signed_in_page(browser, live_server, personas["victor"])
    reviewer.on("pageerror", lambda error: problems.append(str(error)))
    reviewer.goto(f"/review/?campaign={slug}")
    item = reviewer.locator("tr", has_text="likely label error").first
    item.get_by_role("link", name="Review").click()
    reviewer.wait_for_url("**/review/pairs/**")
    evidence = reviewer.locator("#label-error-evidence")
    evidence.wait_for()
    text = evidence.inner_text()
    assert "rater4" in text and "severity" in text and "preference" in text
    assert "1.000" in text or "0.9" in text
    assert problems == []
