"""Markdown for untrusted text: rubric, guidance, prompts, completions.

``render_markdown`` escapes raw HTML at the markdown stage (it is shown as text, never parsed),
then sanitises the generated HTML with nh3 using a small allow-list as a second line of
defence. Links keep only http, https and mailto; images only same-site relative sources;
no attribute beyond the few listed survives (no ``on*``, ``style``, ``class``, ``id`` or
``hx-*``). Templates still wrap the result in an element with ``hx-disable``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension

MAX_INPUT_LENGTH = 200_000
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Content of these is dropped, not kept as text.
DROPPED_CONTENT_TAGS = frozenset({"script", "style", "iframe", "object", "embed", "template"})


class EscapeRawHtml(Extension):
    """Treat raw HTML in the source as text: ``<script>`` is shown, never parsed."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        # Only same-site images: an off-site image would leak the reader's address.
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or value.startswith("//") or "\\" in value:
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
    source = str(text)[:MAX_INPUT_LENGTH]
    # A fresh instance per call: markdown.Markdown keeps state and is not thread-safe.
    converter = markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", EscapeRawHtml()],
        output_format="html",
    )
    html = converter.convert(source)
    return mark_safe(sanitise_html(html))  # noqa: S308 - sanitised by nh3 just above
