"""``presentation.markdown.render_markdown``: policy markdown renders inert, with no image and
no link that resolves against the site."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.utils.safestring import SafeString

from presentation.markdown import render_markdown


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "hello <script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="/" onclick="steal()">x</a>',
        '<div onmouseover="x()">hover</div>',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        '<a hx-get="/admin/" hx-trigger="load">x</a>',
        '<button hx-post="/policy/publish/">x</button>',
        '<iframe src="https://evil.example/"></iframe>',
        '<p style="position:fixed;top:0">x</p>',
        '<object data="x.swf"></object><embed src="x">',
        "<svg onload=alert(1)>",
        '<form action="/x"><input name=a></form>',
    ],
)
def test_dangerous_markup_is_inert(source: str) -> None:
    parser = _Elements()
    parser.feed(str(render_markdown(source)))
    for tag, attributes in parser.elements:
        assert tag in SAFE_TAGS, tag
        for name, value in attributes:
            assert not name.startswith(("on", "hx-", "data-")), name
            assert name not in {"style", "class", "id", "srcdoc", "action"}, name
            lowered = (value or "").strip().lower()
            assert not lowered.startswith(("javascript:", "data:", "vbscript:")), value


SAFE_TAGS = {"p", "a", "code", "pre", "strong", "em", "ul", "ol", "li", "br"}


class _Elements(HTMLParser):
    """Every element and attribute of an HTML fragment, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))


def test_markdown_still_renders() -> None:
    html = render_markdown(
        "# Title\n\n**bold** *em* `<b>`\n\n- one\n- two\n\n[ok](https://example.org/a)"
    )
    assert isinstance(html, SafeString)
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert "<code>&lt;b&gt;</code>" in html
    assert "<li>one</li>" in html
    assert 'href="https://example.org/a"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_no_image_survives_whatever_its_source() -> None:
    # An image loads when the page opens: a same-site source can hit a page that acts on GET
    # (opening the annotate page claims a pair), an off-site one leaks the reader's address.
    html = render_markdown(
        "![a](https://tracker.example/p.gif) ![b](//cdn.example/x.png) ![c](/static/c.png) "
        "![d](/campaigns/side/annotate/) ![e](/static/../campaigns/side/annotate/)\n\n"
        "![f][ref]\n\n[ref]: /campaigns/side/annotate/"
    )
    assert "<img" not in html and "src=" not in html
    assert "/campaigns/side/annotate/" not in html


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/campaigns/side/annotate/",
        "campaigns/side/annotate/",
        "../annotate/",
        "?next=/admin/",
        "https:/campaigns/side/annotate/",
        "https:campaigns/side/annotate/",
        "HTTP:/campaigns/side/annotate/",
        "https:///campaigns/side/annotate/",
        "https:\\\\evil.example/",
        "/\\evil.example/",
        "&#47;&#47;evil.example/",
        " //evil.example/",
        "javascript:alert(1)",
    ],
)
def test_links_that_resolve_against_the_site_lose_their_href(target: str) -> None:
    html = render_markdown(f"[b]({target}) and <{target}>")
    parser = _Elements()
    parser.feed(str(html))
    hrefs = [
        value for _, attributes in parser.elements for name, value in attributes if name == "href"
    ]
    assert hrefs == [], (target, html)
    # The text of the link stays: in a link without a target, or (a script URL, which the
    # CommonMark parser refuses to make a link of) as the source text.
    assert ">b</a>" in html or "[b](" in html


@pytest.mark.parametrize(
    ("target", "href"),
    [
        ("https://example.org/a?b=1", "https://example.org/a?b=1"),
        ("http://example.org", "http://example.org"),
        ("HTTPS://Example.org/x", "HTTPS://Example.org/x"),
        ("mailto:policy@example.org", "mailto:policy@example.org"),
    ],
)
def test_absolute_http_and_mailto_links_stay(target: str, href: str) -> None:
    html = render_markdown(f"[b]({target})")
    assert f'href="{href}"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_raw_html_is_shown_as_text_not_parsed() -> None:
    html = render_markdown('<b onclick="x()">bold?</b>')
    assert "<b" not in html
    assert "&lt;b" in html


def test_empty_and_none() -> None:
    assert render_markdown("") == ""
    assert render_markdown(None) == ""
