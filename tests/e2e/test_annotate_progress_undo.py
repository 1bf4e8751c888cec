"""In Chromium: a failed submit keeps what was filled in across a reload, the progress line,
undo of the last submit (Shift+U), and the character counters of limited fields."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver

from labeling.models import Judgment, JudgmentRevision
from policy.models import PolicyVersion
from policy.rubric import RATIONALE_MAX_LENGTH
from tests.e2e.conftest import open_pair_page, signed_in_page
from tests.labeling.annotation.factories import build_pairs, ensure_roles

pytestmark = pytest.mark.e2e


@pytest.fixture
def progress_campaign(transactional_db: None) -> Any:
    from labeling.campaigns.services import campaign_create
    from policy.defaults import default_policy

    ensure_roles()
    get_resolver().url_patterns  # noqa: B018 - import the views before the browser's timeouts
    version = PolicyVersion.objects.order_by("-number").first() or PolicyVersion.objects.create(
        number=1, notes="e2e", snapshot=default_policy()
    )
    campaign = campaign_create(
        name="Progress campaign", slug="progress", policy_version=version,
        judgments_per_pair=2, open_now=True,
    )  # fmt: skip
    build_pairs(campaign, 4)
    return campaign


def rate_fully(page: Any) -> None:
    """Every rating by keyboard: left safe completion, none, 3; right direct, none, 4; +1."""
    for key in ("w", "a", "c", "y", "h", ","):
        page.keyboard.press(key)
    page.keyboard.press("4")


def test_a_failed_submit_keeps_the_draft_across_a_reload(
    browser, live_server, progress_campaign, personas
):
    page = signed_in_page(browser, live_server, personas["anna"])
    open_pair_page(page, progress_campaign.slug)
    assignment = page.locator("#annotate-root").get_attribute("data-assignment")
    # Part of the form, then Enter at once (no pause for the autosave).
    page.keyboard.press("w")
    page.keyboard.press("s")
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    page.locator("#judgment-form .error").first.wait_for()
    assert page.locator("#annotate-root").get_attribute("data-assignment") == assignment
    page.reload()
    page.locator("#judgment-form").wait_for()
    assert page.locator("#annotate-root").get_attribute("data-assignment") == assignment
    assert page.locator("input[name=left_response_mode][value=safe_completion]").is_checked()
    assert page.locator("input[name=left_severity][value=negligible]").is_checked()
    assert page.locator("input[name=preference][value='2']").is_checked()
    assert not Judgment.objects.exists()


def test_progress_and_undo_the_last_submit(browser, live_server, progress_campaign, personas):
    page = signed_in_page(browser, live_server, personas["anna"])
    open_pair_page(page, progress_campaign.slug)
    progress = page.locator("#progress")
    progress.locator("[data-progress=today]").wait_for()
    assert progress.inner_text().startswith("0 done today")
    assert "8 judgments left in the campaign" in progress.inner_text()
    # A line of text, not the progress-bar style the app's other pages use.
    assert progress.evaluate("el => getComputedStyle(el).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert progress.bounding_box()["height"] >= 16
    assert page.locator("#undo-last").count() == 0
    first = page.locator("#annotate-root").get_attribute("data-assignment")
    rate_fully(page)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(first) => { const r = document.getElementById('annotate-root');"
        " return r && r.dataset.assignment && r.dataset.assignment !== first; }",
        arg=first,
    )
    page.wait_for_function(
        "() => (document.getElementById('progress') || {}).innerText?.startsWith('1 done today')"
    )
    assert "7 judgments left in the campaign" in progress.inner_text()
    judgment = Judgment.objects.get()
    assert page.locator("#undo-last").is_visible()
    # Shift+U reopens the judgment just submitted; saving comes back to the pair page.
    second = page.locator("#annotate-root").get_attribute("data-assignment")
    page.keyboard.press("Shift+U")
    page.wait_for_url(f"**/work/judgments/{judgment.pk}/edit/?from=annotate")
    assert page.locator("input[name=preference][value='1']").is_checked()
    page.locator("label[for=preference-1]").click()
    page.locator("#rationale").fill("Left is much better after all.")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/campaigns/{progress_campaign.slug}/annotate/")
    page.locator("#annotate-root[data-assignment] #judgment-form").wait_for()
    assert page.locator("#annotate-root").get_attribute("data-assignment") == second
    judgment.refresh_from_db()
    assert judgment.rationale == "Left is much better after all."
    assert JudgmentRevision.objects.filter(judgment=judgment).count() == 1


def test_character_counters_show_what_is_left(browser, live_server, progress_campaign, personas):
    page = signed_in_page(browser, live_server, personas["anna"])
    open_pair_page(page, progress_campaign.slug)
    counter = page.locator("#rationale-count")
    page.wait_for_function(
        "() => document.getElementById('rationale-count').textContent.includes('left')"
    )
    assert counter.inner_text() == f"{RATIONALE_MAX_LENGTH:,} characters left"
    page.locator("#rationale").fill("twelve chars")
    assert counter.inner_text() == f"{RATIONALE_MAX_LENGTH - 12:,} characters left"
    # A paste over the limit stays whole; the counter says by how much, and the server
    # refuses it with a message rather than cutting it.
    page.locator("#rationale").fill("x" * (RATIONALE_MAX_LENGTH + 3))
    assert counter.inner_text() == f"3 characters over the limit of {RATIONALE_MAX_LENGTH:,}"
    assert "error" in (counter.get_attribute("class") or "")
    assert len(page.locator("#rationale").input_value()) == RATIONALE_MAX_LENGTH + 3
    page.locator("#flag_note").fill("abc")
    assert page.locator("#flag_note-count").inner_text() == "997 characters left"
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+S")
    page.locator("#skip-detail").fill("too hard")
    assert page.locator("#skip-detail-count").inner_text().endswith("characters left")
