"""Opening the review page of a hostile candidate makes no request on the reviewer's behalf
(Playwright + Chromium): an imported ``![](/campaigns/side/annotate/)`` once made the browser
fetch another campaign's annotate page, which claims a pair on GET."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver

from labeling.models import Assignment
from policy.models import PolicyVersion
from tests.e2e.conftest import signed_in_page
from tests.labeling.annotation.factories import build_pairs, ensure_roles

pytestmark = pytest.mark.e2e

HOSTILE = "\n\n".join(
    [
        "Hostile marker.",
        "![](/campaigns/side/annotate/)",
        "[a](//evil.example/)",
        "<img src=/campaigns/side/annotate/>",
        "[b](/campaigns/side/annotate/)",
        "![pixel](http://127.0.0.1:9/pixel.png)",
    ]
)


@pytest.fixture
def hostile_pair(transactional_db: None) -> Any:
    from labeling.campaigns.services import campaign_create
    from policy.defaults import default_policy

    ensure_roles()
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    version = PolicyVersion.objects.order_by("-number").first() or PolicyVersion.objects.create(
        number=1, notes="e2e", snapshot=default_policy()
    )
    # The campaign the payload points at: open, with work a reviewer may claim.
    side = campaign_create(name="Side", slug="side", policy_version=version, open_now=True)
    build_pairs(side, 2)
    reviewed = campaign_create(
        name="Imported", slug="imported", policy_version=version, open_now=True
    )
    (pair,) = build_pairs(
        reviewed,
        1,
        texts=(HOSTILE, "A plain, **safe** answer."),
        messages=[{"role": "user", "content": HOSTILE}],
    )
    return pair


def test_review_page_of_a_hostile_candidate_requests_nothing(
    browser, live_server, hostile_pair, personas
):
    page = signed_in_page(browser, live_server, personas["victor"])
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"/review/pairs/{hostile_pair.pk}/")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)  # give any late image or prefetch time to go out

    assert page.locator("h1").inner_text().startswith(f"Pair #{hostile_pair.pk}")
    assert not [url for url in requested if "/annotate" in url], requested
    assert not [url for url in requested if "evil.example" in url or ":9/" in url], requested
    assert Assignment.objects.count() == 0
    # The prompt and both candidates hold no image and no link; the payload is shown as text.
    assert page.locator(".untrusted img, .untrusted a, .untrusted [src]").count() == 0
    assert "<img src=/campaigns/side/annotate/>" in page.locator(".candidate").first.inner_text()
