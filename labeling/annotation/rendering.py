"""Untrusted text (prompts, completions) as inert HTML.

Model output is attacker-controlled. It goes through the policy app's markdown renderer (raw
HTML escaped, nh3 sanitising) and then through a second, stricter allow-list here: no links,
no images, no attributes at all, so nothing in a candidate can load, navigate or run. Even
markup that survived both sits in an ``hx-disable`` element under a Content-Security-Policy
without inline script.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe

from policy.markdown import render_markdown

# Text-only formatting: structure survives, nothing that loads, links or runs.
INERT_TAGS: set[str] = {
    "p", "br", "hr", "pre", "code", "blockquote", "em", "strong", "b", "i", "s", "del",
    "sub", "sup", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
    "h1", "h2", "h3", "h4", "h5", "h6", "abbr",
}  # fmt: skip
DROP_WITH_CONTENT: set[str] = {"script", "style", "iframe", "object", "embed", "template"}


@lru_cache(maxsize=1024)
def _render_inert(text: str) -> str:
    html = render_markdown(text)
    inert = nh3.clean(
        str(html),
        tags=INERT_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes={},
        link_rel=None,
        strip_comments=True,
    )
    return inert


def render_untrusted(text: str) -> SafeString:
    """Markdown → HTML that cannot load, link to, or run anything.

    A pure function of the text, so results are cached: a pair's texts are rendered once per
    process however often they are shown.
    """
    return mark_safe(_render_inert(text or ""))  # noqa: S308 - sanitised twice by nh3
