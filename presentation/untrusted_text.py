"""Untrusted text (prompts, completions) as inert HTML.

Model output is attacker-controlled. It goes through the same markdown pipeline as the policy
app's renderer (raw HTML escaped at the markdown stage, then nh3 with the policy allow-list)
and then through a second, stricter allow-list here: no links, no images, no attributes at
all, so nothing in a candidate can load, navigate or run. Even markup that survived both sits
in an ``hx-disable`` element under a Content-Security-Policy without inline script.
Templates use it through ``{% load untrusted_text %}``: ``{{ text|untrusted }}`` and
``{{ candidate|candidate_html }}`` (``presentation/templatetags/untrusted_text.py``); the
policy ``|markdown`` filter is for text admins write, never for prompts or model output.

A candidate's HTML is rendered once, when the candidate is stored (``Candidate.html``, by
the renderer named in ``Candidate.html_renderer``), so the annotator's round trip does not
render it again. Stored HTML is only used while ``RENDERER`` is the same: a change to this
module's rules (bump ``RULES``) or an upgrade of markdown or nh3 gives a new ``RENDERER``, and
rows stored by another renderer, or with no HTML at all, are rendered when shown.

Whatever is rendered on a request (prompts, older candidates) is cached by text.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from importlib.metadata import version
from typing import Protocol

import nh3
from django.utils.safestring import SafeString, mark_safe

from .markdown import MAX_INPUT_LENGTH, commonmark_html, sanitise_html

# Text-only formatting: structure survives, nothing that loads, links or runs.
INERT_TAGS: set[str] = {
    "p", "br", "hr", "pre", "code", "blockquote", "em", "strong", "b", "i", "s", "del",
    "sub", "sup", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
    "h1", "h2", "h3", "h4", "h5", "h6", "abbr",
}  # fmt: skip
DROP_WITH_CONTENT: set[str] = {"script", "style", "iframe", "object", "embed", "template"}

# The version of the rules below; bump it whenever they change what a text renders to.
RULES = 2
# The renderer that stored HTML must come from to be used: these rules under these libraries.
RENDERER = (
    zlib.crc32(f"{RULES}:markdown-it-py {version('markdown-it-py')}:nh3 {version('nh3')}".encode())
    & 0x7FFFFFFF
)


@lru_cache(maxsize=1024)
def _render_inert(text: str) -> str:
    return nh3.clean(
        sanitise_html(commonmark_html(text)),
        tags=INERT_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes={},
        link_rel=None,
        strip_comments=True,
    ).strip()


# One line of plain prose: letters, digits, spaces and punctuation that markdown leaves alone
# (no markup, no entity, no list, heading, quote, code or link syntax can start or occur).
_PLAIN_PROSE = re.compile(r"[A-Za-z][A-Za-z0-9 ,.;:?!'\"()/%$@=+-]*")


def _render(text: str) -> str:
    """Most prompts are one plain sentence: their HTML is a paragraph of the same characters,
    exactly what the markdown pipeline makes of them (a test compares the two), without
    building it. Everything else takes the pipeline."""
    if len(text) <= MAX_INPUT_LENGTH and _PLAIN_PROSE.fullmatch(text) and text[-1] != " ":
        return f"<p>{text}</p>"
    return _render_inert(text)


def render_untrusted(text: str) -> SafeString:
    """Markdown → HTML that cannot load, link to, or run anything.

    A pure function of the text, so results are cached: a pair's texts are rendered once per
    process however often they are shown.
    """
    return mark_safe(_render(text or ""))  # noqa: S308 - sanitised twice by nh3, or plain


def stored_html(text: str) -> tuple[str, int]:
    """``(html, renderer)`` to store beside a text when it is created (see ``Candidate.html``)."""
    return _render(text or ""), RENDERER


class HasStoredHtml(Protocol):
    text: str
    html: str
    html_renderer: int


def candidate_html(candidate: HasStoredHtml) -> SafeString:
    """A candidate's inert HTML: the stored rendering when this renderer made it, else
    rendered now (rows from before it, or from an older renderer)."""
    if candidate.html_renderer == RENDERER:
        # Stored by ``stored_html`` under the same rules and libraries (see the module doc).
        return mark_safe(candidate.html)  # noqa: S308
    return render_untrusted(candidate.text)
