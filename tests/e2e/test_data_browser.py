"""A researcher searches and filters the data browser, goes back, sends a pair to review in
bulk and opens it, in a real browser (Playwright + Chromium)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.models import ReviewRequest
from tests.conftest import make_user
from tests.e2e.conftest import signed_in_page
from tests.labeling.browser.conftest import (  # noqa: F401 - fixtures this test uses
    annotators,
    build,
    planted,
    quality_campaign,
)
from tests.labeling.conftest import policy_version  # noqa: F401

pytestmark = pytest.mark.e2e


def test_search_filter_select_send_to_review_and_open_a_pair(
    live_server: Any,
    transactional_db: None,
    planted: Any,  # noqa: F811
    browser: Any,
) -> None:
    garden = planted["p"]["garden"]
    page = signed_in_page(browser, live_server, make_user("rosa", "researcher"))
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto("/")
    page.get_by_role("link", name="Data browser").click()
    expect(page.locator("#match-count")).to_have_text("3 pairs")

    page.fill("#browser-search", "zanzibar")
    expect(page.locator("#match-count")).to_have_text("2 pairs match")
    expect(page).to_have_url(re.compile(r"q=zanzibar"))
    assert page.locator("#browser-table mark").first.inner_text().lower() == "zanzibar"

    page.select_option("#f-agreement", "agree")
    expect(page.locator("#match-count")).to_have_text("1 pair matches")
    expect(page).to_have_url(re.compile(r"q=zanzibar.*agreement=agree"))

    page.go_back()
    expect(page.locator("#match-count")).to_have_text("2 pairs match")
    expect(page.locator("#browser-search")).to_have_value("zanzibar")
    expect(page.locator("#f-agreement")).to_have_value("")
    page.go_forward()
    expect(page.locator("#match-count")).to_have_text("1 pair matches")
    expect(page.locator("#f-agreement")).to_have_value("agree")

    page.locator(f"input.row-select[value='{garden.pk}']").check()
    page.select_option("#bulk-action", "review")
    page.click("#bulk-apply")
    expect(page.locator("#bulk-confirm")).to_have_text("Confirm: send to review (1)")
    assert not ReviewRequest.objects.exists()
    page.click("#bulk-confirm")
    expect(page.locator("#bulk-done")).to_have_text("1")
    expect(page.locator(f"tr[data-pair='{garden.pk}']")).to_contain_text("in review")
    request = ReviewRequest.objects.get()
    assert request.pair_id == garden.pk and request.reason == "sent from the data browser by rosa"

    page.click(f"tr[data-pair='{garden.pk}'] a")
    expect(page.locator("h1")).to_contain_text(f"Pair #{garden.pk}")
    expect(page.locator("#judgments tbody tr")).to_have_count(3)
    expect(page.locator("#review-requests")).to_contain_text("sent from the data browser by rosa")
    assert problems == []
