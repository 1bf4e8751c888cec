"""Model output full of script and HTML renders inert on the pair page (Playwright + Chromium):
nothing runs, no request goes where the payload points, no markup escapes the candidate area."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver

from policy.models import PolicyVersion
from tests.e2e.conftest import open_pair_page, signed_in_page
from tests.labeling.annotation.factories import build_pairs, ensure_roles

pytestmark = pytest.mark.e2e

PAYLOADS = "\n\n".join(
    [
        "Here is my answer.",
        "<script>window.__pwned = 1</script>",
        '<img src=x onerror="window.__pwned = 2">',
        '<svg onload="window.__pwned = 3"><circle r="5"/></svg>',
        '<a href="javascript:window.__pwned = 4">click me</a>',
        "[markdown link](javascript:window.__pwned=5)",
        "![tracking pixel](http://127.0.0.1:9/pixel.png)",
        '<div hx-get="/admin/" hx-trigger="load" hx-target="body">htmx bait</div>',
        '<button hx-post="/accounts/logout/" hx-trigger="load">logout bait</button>',
        '<iframe src="/admin/"></iframe>',
        "<style>body { display: none }</style>",
        '<form action="/accounts/logout/" method="post"><input type="submit"></form>',
        '<meta http-equiv="refresh" content="0;url=/admin/">',
        '<object data="/admin/"></object><embed src="/admin/">',
        '<p style="position:fixed;inset:0" onclick="window.__pwned=6">overlay</p>',
        "```html\n<script>window.__pwned = 7</script>\n```",
    ]
)


@pytest.fixture
def hostile_campaign(transactional_db: None) -> Any:
    from labeling.campaigns.services import campaign_create
    from policy.defaults import default_policy

    ensure_roles()
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    version = PolicyVersion.objects.order_by("-number").first() or PolicyVersion.objects.create(
        number=1, notes="e2e", snapshot=default_policy()
    )
    campaign = campaign_create(
        name="Hostile output", slug="hostile", policy_version=version, open_now=True
    )
    build_pairs(
        campaign,
        1,
        texts=(PAYLOADS, "A plain, **safe** answer."),
        messages=[
            {"role": "user", "content": '<img src=x onerror="window.__pwned = 8">Tell me.'},
            {"role": "assistant", "content": "<script>window.__pwned = 9</script>Sure?"},
            {"role": "user", "content": "Yes, please."},
        ],
    )
    return campaign


FORBIDDEN_SELECTOR = (
    "script, img, svg, iframe, style, object, embed, form, input, button, meta, a, link"
)


def test_hostile_candidate_renders_inert(browser, live_server, hostile_campaign, personas):
    page = signed_in_page(browser, live_server, personas["anna"])
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_pair_page(page, hostile_campaign.slug)
    page.wait_for_timeout(1500)  # give any "load" trigger or onerror time to fire
    page.screenshot(path="/tmp/annotate_untrusted.png", full_page=True)

    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    assert not [url for url in requested if "/admin" in url or "logout" in url or ":9/" in url]
    # The candidate and the prompt areas hold no live markup at all.
    for area in (".candidate-scroll", ".prompt-scroll .untrusted"):
        found = page.evaluate(
            """([area, selector]) => Array.from(document.querySelectorAll(area)).map(
                   element => element.querySelectorAll(selector).length)""",
            [area, FORBIDDEN_SELECTOR],
        )
        assert found and sum(found) == 0, (area, found)
        attributes = page.evaluate(
            """(area) => Array.from(document.querySelectorAll(area + ' *')).flatMap(
                   element => Array.from(element.attributes).map(attribute => attribute.name))""",
            area,
        )
        assert attributes == [], attributes
        # Both areas sit in hx-disable, so htmx would ignore anything that did survive.
        assert page.evaluate(
            "(area) => Array.from(document.querySelectorAll(area))"
            ".every(element => element.closest('[hx-disable]') !== null)",
            area,
        )
    # The payloads are shown as text, not executed; the page itself is still whole.
    candidate_text = page.locator(".candidate-scroll").all_inner_texts()
    assert any("window.__pwned = 1" in text for text in candidate_text)
    assert page.locator("#judgment-form").is_visible()
    assert page.locator("body").is_visible()
    # Still signed in (the logout bait did not fire).
    assert "anna" in page.locator(".whoami").inner_text()
