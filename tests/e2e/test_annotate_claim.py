"""The pair page claims with a POST once it has loaded (Playwright + Chromium): opening it
takes nothing, the pair appears, a rating with the keyboard brings the next pair; without
script the page offers a button that claims."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver

from labeling.models import Assignment, Judgment
from policy.models import PolicyVersion
from tests.e2e.conftest import PAIR_SHOWN, signed_in_page
from tests.labeling.annotation.factories import build_pairs, ensure_roles

pytestmark = pytest.mark.e2e


@pytest.fixture
def claim_campaign(transactional_db: None) -> Any:
    from labeling.campaigns.services import campaign_create
    from policy.defaults import default_policy

    ensure_roles()
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    version = PolicyVersion.objects.order_by("-number").first() or PolicyVersion.objects.create(
        number=1, notes="e2e", snapshot=default_policy()
    )
    campaign = campaign_create(
        name="Claim campaign", slug="claim", policy_version=version, open_now=True
    )
    build_pairs(campaign, 3)
    return campaign


def test_page_claims_with_a_post_then_rating_brings_the_next_pair(
    browser, live_server, claim_campaign, personas
):
    anna = personas["anna"]
    page = signed_in_page(browser, live_server, anna)
    methods: list[str] = []
    page.on(
        "request",
        lambda request: (
            request.url.endswith(f"/campaigns/{claim_campaign.slug}/annotate/")
            and methods.append(request.method)
        ),
    )
    page.goto(f"/campaigns/{claim_campaign.slug}/annotate/")
    page.locator(PAIR_SHOWN).wait_for()
    assert methods == ["GET", "POST"]
    first = page.locator("#annotate-root").get_attribute("data-assignment")
    assert list(Assignment.objects.filter(annotator=anna).values_list("pk", flat=True)) == [
        int(first)
    ]

    # Left: safe completion, no violation, helpfulness 3; right: hard refusal, none, 1;
    # left slightly better; Enter submits and the next pair comes back in the same request.
    for key in ("w", "a", "c", "o", "h", "b", "2"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => (document.getElementById('annotate-root').dataset.assignment || '{first}')"
        f" !== '{first}'"
    )
    assert "Saved." in page.locator("#save-status").inner_text()
    assert Judgment.objects.filter(annotator=anna, assignment_id=int(first)).exists()
    second = page.locator("#annotate-root").get_attribute("data-assignment")
    assert Assignment.objects.get(pk=int(second)).completed_at is None


def test_without_script_opening_claims_nothing_and_the_button_claims(
    browser, live_server, claim_campaign, personas
):
    ben = personas["ben"]
    page = signed_in_page(browser, live_server, ben, java_script_enabled=False)
    page.goto(f"/campaigns/{claim_campaign.slug}/annotate/")
    assert page.locator("#claim-form").is_visible()
    assert not Assignment.objects.filter(annotator=ben).exists()
    page.get_by_role("button", name="Get a pair").click()
    page.locator(PAIR_SHOWN).wait_for()
    held = Assignment.objects.get(annotator=ben)
    assert page.locator("#annotate-root").get_attribute("data-assignment") == str(held.pk)
