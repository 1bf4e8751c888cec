"""What every browser test shares: headless Chromium (Debian's), and a page signed in as a user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import get_resolver
from playwright.sync_api import sync_playwright

from policy.models import PolicyVersion
from tests.labeling.annotation.factories import build_pairs, ensure_roles

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous calls, so Django's async-safety guard is relaxed for them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def signed_in_page(browser: Any, live_server: Any, user: Any, **context_options: Any) -> Any:
    """A page whose browser context carries ``user``'s session cookie (``context_options``
    go to the context, e.g. ``java_script_enabled=False``)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, **context_options)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


PAIR_SHOWN = "#annotate-root[data-assignment] #judgment-form"


def open_pair_page(page: Any, slug: str) -> None:
    """Open a campaign's pair page and wait for the pair: the GET claims nothing, the page
    claims with an htmx POST once it has loaded."""
    page.goto(f"/campaigns/{slug}/annotate/")
    page.locator(PAIR_SHOWN).wait_for()


@pytest.fixture
def annotation_campaign(transactional_db: None) -> Any:
    from labeling.campaigns.services import campaign_create
    from policy.defaults import default_policy

    ensure_roles()
    # Import every view module now: the first request would otherwise pay for it inside a
    # browser timeout.
    get_resolver().url_patterns  # noqa: B018
    version = PolicyVersion.objects.order_by("-number").first() or PolicyVersion.objects.create(
        number=1, notes="e2e", snapshot=default_policy()
    )
    campaign = campaign_create(
        name="Keyboard campaign", slug="keyboard", policy_version=version,
        judgments_per_pair=2, open_now=True,
    )  # fmt: skip
    build_pairs(campaign, 5)
    return campaign
