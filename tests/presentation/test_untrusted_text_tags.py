"""``{% load untrusted_text %}``: the template filters over ``presentation.untrusted_text``."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from django.template import Context, Template

from presentation.untrusted_text import RENDERER, render_untrusted

HOSTILE = "\n\n".join(
    [
        "![](/campaigns/side/annotate/)",
        "[a](//evil.example/)",
        "<img src=/campaigns/side/annotate/>",
        "[b](/campaigns/side/annotate/)",
        "[c](https://evil.example/)",
        "**still bold**",
    ]
)


class _Attributes(HTMLParser):
    """Every start tag and its attributes, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)


def _render(source: str, **context: object) -> str:
    return Template("{% load untrusted_text %}" + source).render(Context(context))


def test_untrusted_filter_renders_no_link_image_or_attribute() -> None:
    html = _render("{{ text|untrusted }}", text=HOSTILE)
    parser = _Attributes()
    parser.feed(html)
    assert "img" not in parser.tags and "a" not in parser.tags
    assert parser.attributes == []
    assert "<strong>still bold</strong>" in html
    # Raw HTML is shown as text, so its source is visible but inert.
    assert "&lt;img src=/campaigns/side/annotate/&gt;" in html
    assert html == render_untrusted(HOSTILE)


@pytest.mark.parametrize(("value", "expected"), [(None, ""), ("", ""), (42, "<p>42</p>")])
def test_untrusted_filter_takes_any_value(value: object, expected: str) -> None:
    assert _render("{{ value|untrusted }}", value=value) == expected


@dataclass
class _Candidate:
    """The three fields ``candidate_html`` reads (``HasStoredHtml``), as a row holds them."""

    text: str
    html: str
    html_renderer: int


def test_candidate_html_filter_uses_the_stored_rendering_of_this_renderer() -> None:
    stored = _Candidate(text="*text*", html="<p>as stored</p>", html_renderer=RENDERER)
    assert _render("{{ candidate|candidate_html }}", candidate=stored) == "<p>as stored</p>"


def test_candidate_html_filter_renders_rows_of_another_renderer() -> None:
    old = _Candidate(text=HOSTILE, html='<img src="/campaigns/side/annotate/">', html_renderer=0)
    html = _render("{{ candidate|candidate_html }}", candidate=old)
    assert "<img" not in html and "href" not in html
    assert html == render_untrusted(HOSTILE)
