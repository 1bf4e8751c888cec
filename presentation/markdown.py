"""Markdown for policy text written by admins: rubric, guidance, campaign instructions.

Markdown is read as CommonMark (what model output and most writers assume: nested lists with
code blocks inside them, fenced code) with GitHub's tables and strikethrough, by
``markdown-it-py``, a maintained CommonMark parser. ``render_markdown`` escapes raw HTML at
the markdown stage (it is shown as text, never parsed), then sanitises the generated HTML with
nh3 using a small allow-list as a second line of defence. No image survives: an image loads
when the page opens, so its source is a request made on the reader's behalf, and a same-site
one can hit a page that acts on GET. Links keep
only absolute http, https and mailto targets (relative and protocol-relative ones lose their
``href``) and open with ``rel="noopener noreferrer nofollow"``. No attribute beyond the few
listed survives (no ``on*``, ``style``, ``class``, ``id`` or ``hx-*``). Templates still wrap
the result in an element with ``hx-disable``.

Prompts and model output are parsed the same way but never rendered here:
``presentation.untrusted_text`` keeps no link, image or attribute at all
(``{% load untrusted_text %}``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

MAX_INPUT_LENGTH = 200_000
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Content of these is dropped, not kept as text.
DROPPED_CONTENT_TAGS = frozenset({"script", "style", "iframe", "object", "embed", "template"})


# CommonMark with raw HTML off (``<script>`` in the source is shown as text, never parsed),
# plus tables and strikethrough. Rendering keeps no state between texts, so one parser serves
# every thread.
_COMMONMARK = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def commonmark_html(text: str) -> str:
    """The parser's HTML for ``text`` (at most ``MAX_INPUT_LENGTH`` characters), not yet
    sanitised: callers pass it through nh3."""
    return _COMMONMARK.render(text[:MAX_INPUT_LENGTH])


# What a browser ignores in a URL before resolving it: tabs and newlines anywhere, and
# spaces and control characters at either end.
_URL_IGNORED_INSIDE = re.compile(r"[\t\n\r]")
_URL_IGNORED_AT_ENDS = "".join(chr(code) for code in range(0x21))


def link_allowed(href: str) -> bool:
    """Whether a policy link may keep ``href``: an absolute http(s) URL naming a host, or mailto.

    Anything a browser would resolve against the page is refused: relative paths,
    protocol-relative ``//host`` and scheme-relative ``https:/path`` (same-scheme URLs without
    ``//`` resolve on the current site), and backslashes (read as ``/``).
    """
    url = _URL_IGNORED_INSIDE.sub("", href).strip(_URL_IGNORED_AT_ENDS)
    if "\\" in url:
        return False
    lowered = url.lower()
    if lowered.startswith("mailto:"):
        return True
    if not lowered.startswith(("http://", "https://")):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:  # a malformed host or port
        return False


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href" and not link_allowed(value):
        return None
    if tag in {"td", "th"} and attribute == "align" and value not in {"left", "right", "center"}:
        return None
    return value


def sanitise_html(html: str) -> str:
    """nh3 with the allow-list above (also usable on HTML that did not come from markdown)."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_CONTENT_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: Any) -> SafeString:
    """Render markdown to sanitised HTML that is safe to insert into a page."""
    if text is None:
        return mark_safe("")
    return mark_safe(sanitise_html(commonmark_html(str(text))))  # noqa: S308 - sanitised by nh3
