"""Dark mode follows the browser's prefers-color-scheme: every page family turns dark with
readable text, cards and tables included, and the dashboard charts draw in the page's colours
(Playwright + Chromium emulating the colour scheme)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import get_resolver

from labeling.campaigns.services import campaign_create
from policy.models import PolicyVersion
from policy.seed import ensure_default_policy
from tests.e2e.conftest import PAIR_SHOWN, signed_in_page
from tests.labeling.annotation.factories import build_pairs

pytestmark = pytest.mark.e2e

DARK_BODY = (17, 20, 24)
DARK_CARD = (26, 31, 38)
LIGHT_BODY = (246, 247, 249)
LIGHT_CARD = (255, 255, 255)


def rgb(text: str) -> tuple[int, int, int]:
    numbers = [int(float(n)) for n in re.findall(r"[\d.]+", text)[:3]]
    return numbers[0], numbers[1], numbers[2]


def luminance(colour: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: tuple[int, int, int], two: tuple[int, int, int]) -> float:
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def styles(page: Any, selector: str) -> dict[str, tuple[int, int, int]]:
    raw = page.locator(selector).first.evaluate(
        "node => { const s = getComputedStyle(node); return [s.backgroundColor, s.color]; }"
    )
    return {"background": rgb(raw[0]), "color": rgb(raw[1])}


@pytest.fixture
def campaign(transactional_db: None) -> Any:
    ensure_default_policy()
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    version = PolicyVersion.objects.order_by("-number").first()
    campaign = campaign_create(
        name="Dark campaign", slug="dark", policy_version=version, open_now=True
    )
    build_pairs(campaign, 2)
    return campaign


def test_every_page_family_turns_dark_with_readable_text(
    browser: Any, live_server: Any, personas: dict[str, User], campaign: Any
) -> None:
    alice = personas["alice"]
    dark = signed_in_page(browser, live_server, alice, color_scheme="dark")
    surfaces = "main table, main .card, main select"
    for url in (
        "/campaigns/",
        f"/campaigns/{campaign.slug}/",
        "/review/",
        "/review/resolved/",
        f"/dashboards/?campaign={campaign.slug}",
        "/graders/",
        "/exports/new/",
        "/policy/",
        "/policy/versions/",
        "/policy/rubric/",
        "/users/",
        f"/users/{alice.pk}/",
        "/endpoints/",
    ):
        response = dark.goto(url)
        assert response is not None and response.status == 200, url
        body = styles(dark, "body")
        assert body["background"] == DARK_BODY, url
        assert contrast(body["color"], body["background"]) >= 7, url
        assert dark.locator(surfaces).count(), url
        surface = styles(dark, surfaces)
        assert luminance(surface["background"]) < 0.05, (url, surface)
        assert contrast(body["color"], surface["background"]) >= 7, url
        heading = styles(dark, "h1")
        assert contrast(heading["color"], body["background"]) >= 7, url
        link = dark.locator("main a:not(.button)").first
        if link.count():
            colour = rgb(link.evaluate("node => getComputedStyle(node).color"))
            assert contrast(colour, body["background"]) >= 4.5, url

    # The card's own colour, exactly, on a page with a card.
    dark.goto(f"/users/{alice.pk}/")
    assert styles(dark, ".card")["background"] == DARK_CARD
    # Form fields are dark too, with light text.
    field = styles(dark, "#id_email")
    assert (
        luminance(field["background"]) < 0.05 and contrast(field["color"], field["background"]) >= 7
    )

    # The charts take the page's text colour.
    dark.goto(f"/dashboards/?campaign={campaign.slug}")
    dark.wait_for_function("() => typeof window.Chart !== 'undefined'")
    chart_text = dark.evaluate("() => window.Chart.defaults.color")
    assert rgb_hex(chart_text) == styles(dark, "body")["color"]

    # The annotate page, as an annotator sees it.
    annotator = signed_in_page(browser, live_server, personas["anna"], color_scheme="dark")
    annotator.goto(f"/campaigns/{campaign.slug}/annotate/")
    annotator.locator(PAIR_SHOWN).wait_for()
    assert styles(annotator, "body")["background"] == DARK_BODY
    for selector in (".card", "label.choice"):
        surface = styles(annotator, selector)
        assert luminance(surface["background"]) < 0.05, selector
        assert contrast(surface["color"], surface["background"]) >= 7, selector


def test_light_scheme_keeps_the_light_theme(
    browser: Any, live_server: Any, personas: dict[str, User], campaign: Any
) -> None:
    light = signed_in_page(browser, live_server, personas["alice"], color_scheme="light")
    light.goto(f"/users/{personas['alice'].pk}/")
    assert styles(light, "body")["background"] == LIGHT_BODY
    assert styles(light, ".card")["background"] == LIGHT_CARD


def rgb_hex(text: str) -> tuple[int, int, int]:
    text = text.strip().lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
