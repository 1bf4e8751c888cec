"""Every page that shows a prompt's messages or a candidate's text renders them inert.

A candidate imported with ``![](/campaigns/side/annotate/)`` once made a reviewer's browser
claim a pair in another campaign just by opening the review page (the image was fetched, and
the annotate page claims on GET). Prompts and candidates now go through the one untrusted-text
renderer everywhere: no image, no link, no attribute. Policy text keeps links, but only
absolute http(s) and mailto ones, and no image.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from labeling.models import Candidate, Pair, Prompt
from presentation.untrusted_text import render_untrusted

from .conftest import Builder

MARKER = "Hostile marker"
PAYLOADS = (
    "![](/campaigns/side/annotate/)",
    "[a](//evil.example/)",
    "<img src=/campaigns/side/annotate/>",
    "[b](/campaigns/side/annotate/)",
)
HOSTILE = f"{MARKER}.\n\n" + "\n\n".join(PAYLOADS)
# Where the payloads point: no attribute of a page may name either.
TARGETS = ("/campaigns/side/", "evil.example")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "hx-get", "hx-post", "data", "srcset"}


class _Attributes(HTMLParser):
    """Every start tag and attribute of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def assert_inert(html: str, *, shows_text: bool) -> None:
    """No image, and no attribute pointing where the payloads point or off-site."""
    parser = _Attributes()
    parser.feed(html)
    assert "img" not in parser.tags
    for name, value in parser.attributes:
        assert not any(target in value for target in TARGETS), (name, value)
        if name in URL_ATTRIBUTES:
            # Protocol-relative URLs leave the site; the page's own links are all paths.
            assert not value.strip().startswith(("//", "\\")), (name, value)
    if shows_text:
        # The payload is on the page, as text: the test is not passing on an empty page.
        assert MARKER in html
        assert "&lt;img src=/campaigns/side/annotate/&gt;" in html


@pytest.fixture
def hostile(build: Builder, personas: dict[str, Any]) -> dict[str, Any]:
    """A pair whose prompt and both candidates carry the payloads, judged in disagreement."""
    prompt = Prompt.objects.create(
        campaign=build.campaign,
        messages=[
            {"role": "system", "content": HOSTILE},
            {"role": "user", "content": HOSTILE},
        ],
        category_path="biology/low-risk-dual-use",
        intent="benign",
        external_id="hostile",
        content_hash="hash-hostile",
    )
    imported = build.candidate(prompt, model="imported", text=HOSTILE)
    older = build.candidate(prompt, model="imported", text=HOSTILE)
    # A row stored before stored HTML existed (or by another renderer) is rendered when shown.
    Candidate.objects.filter(pk=older.pk).update(html="", html_renderer=0)
    pair: Pair = build.pair(imported, older)
    judgment = build.judge(pair, personas["anna"], preference=-2)
    build.judge(pair, personas["ben"], preference=2, flags=["needs_expert"])
    return {"campaign": build.campaign, "pair": pair, "judgment": judgment}


def test_stored_html_of_the_imported_candidate_is_inert(hostile) -> None:
    imported = hostile["pair"].candidate_a
    assert imported.html == render_untrusted(HOSTILE)
    assert "<img" not in imported.html and "href" not in imported.html


def test_review_pair_page(client_for, hostile) -> None:
    response = client_for("victor").get(f"/review/pairs/{hostile['pair'].pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert_inert(html, shows_text=True)
    # Both the stored rendering and the one made now are shown, twice the prompt's turns.
    assert html.count(str(render_untrusted(HOSTILE))) == 4


def test_review_queue_page(client_for, hostile) -> None:
    response = client_for("victor").get(f"/review/?campaign={hostile['campaign'].slug}")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{hostile['pair'].pk}" in html  # the hostile pair is listed
    assert_inert(html, shows_text=False)


def test_gold_pair_page(client_for, hostile) -> None:
    response = client_for("rita").get(f"/quality/pairs/{hostile['pair'].pk}/gold/")
    assert response.status_code == 200
    html = response.content.decode()
    assert_inert(html, shows_text=True)
    assert html.count(str(render_untrusted(HOSTILE))) == 4


def test_campaign_quality_page(client_for, hostile) -> None:
    response = client_for("rita").get(f"/quality/campaigns/{hostile['campaign'].slug}/")
    assert response.status_code == 200
    assert_inert(response.content.decode(), shows_text=False)


def test_judgment_edit_page(client_for, hostile) -> None:
    response = client_for("anna").get(f"/work/judgments/{hostile['judgment'].pk}/edit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert_inert(html, shows_text=True)
    assert html.count(str(render_untrusted(HOSTILE))) == 4


def test_my_work_page(client_for, hostile) -> None:
    response = client_for("anna").get("/work/")
    assert response.status_code == 200
    html = response.content.decode()
    # The first turn is previewed as escaped plain text, cut short: no markup at all.
    assert MARKER in html
    assert_inert(html, shows_text=False)


def test_export_pages(client_for, hostile) -> None:
    client = client_for("rita")
    slug = hostile["campaign"].slug
    page = client.get(f"/exports/new/?campaign={slug}")
    assert page.status_code == 200
    assert_inert(page.content.decode(), shows_text=False)
    preview = client.post(
        "/exports/preview/",
        {
            "format": "trl-preference",
            "campaigns": [slug],
            "min_judgments": 1,
            "min_agreement": 0,
            "label_sources": ["raw", "review"],
            "preference_source": "human",
            "min_margin": 0,
            "sft_threshold": 0.66,
            "kto_threshold": 0.5,
            "train": 0.9,
            "validation": 0.05,
            "test": 0.05,
            "seed": 1,
            "archive_format": "tar.gz",
        },
        HTTP_HX_REQUEST="true",
    )
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "pairs qualify" in html
    assert_inert(html, shows_text=False)


def test_campaign_instructions_keep_only_absolute_links_and_no_image(client_for, hostile) -> None:
    # Campaign instructions are policy text (admins write them): markdown with links, but no
    # image and no link that resolves against the site.
    campaign = hostile["campaign"]
    campaign.instructions = HOSTILE + "\n\n[guide](https://example.org/guide)"
    campaign.save(update_fields=["instructions"])
    response = client_for("alice").get(f"/campaigns/{campaign.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert_inert(html, shows_text=True)
    assert 'href="https://example.org/guide"' in html
