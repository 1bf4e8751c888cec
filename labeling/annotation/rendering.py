"""Untrusted text (prompts, completions) as inert HTML, and the category guidance for a pair.

Model output is attacker-controlled. It goes through the policy app's markdown renderer (nh3
sanitising) and then through a second, stricter allow-list here: no links, no images, no
attributes at all. Even markup that survived both would sit in an ``hx-disable`` element under
a Content-Security-Policy without inline script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import markdown as markdown_lib
import nh3

from policy.models import PolicyVersion

# Text-only formatting: structure survives, nothing that loads, links or runs.
INERT_TAGS: set[str] = {
    "p", "br", "hr", "pre", "code", "blockquote", "em", "strong", "b", "i", "u", "s", "del",
    "ins", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr",
    "th", "td", "h1", "h2", "h3", "h4", "h5", "h6", "kbd", "samp", "var", "small", "mark",
}  # fmt: skip
DROP_WITH_CONTENT: set[str] = {"script", "style", "iframe", "object", "embed", "template"}


def _fallback_render(text: str) -> str:
    html = markdown_lib.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    return nh3.clean(html)


def _policy_renderer() -> Callable[[str], str]:
    try:
        from policy.markdown import render_markdown
    except ImportError:  # the policy app's renderer is not installed yet
        return _fallback_render
    return render_markdown  # type: ignore[no-any-return]


def render_untrusted(text: str) -> str:
    """Markdown → HTML that cannot load, link to, or run anything. Safe to mark safe."""
    html = _policy_renderer()(text or "")
    return nh3.clean(
        str(html),
        tags=INERT_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes={},
        link_rel=None,
        strip_comments=True,
    )


def _snapshot_category(version: PolicyVersion, path: str) -> dict[str, Any] | None:
    for category in version.snapshot.get("categories", []):
        if category.get("path") == path:
            return dict(category)
    return None


def category_guidance(version: PolicyVersion, path: str) -> dict[str, Any]:
    """Name, description and per-severity guidance of ``path`` in ``version``, as plain data.

    Uses ``policy.selectors.category_guidance`` when the policy app provides it, and the
    version's frozen snapshot otherwise; the result is shaped for the annotation template.
    """
    found: Any = None
    try:
        from policy.selectors import category_guidance as policy_guidance
    except ImportError:  # the policy app's selector is not installed yet
        policy_guidance = None
    if policy_guidance is not None:
        try:
            found = policy_guidance(version, path)
        except Exception:  # noqa: BLE001 - guidance is an aid; never break the pair page
            found = None
    if not isinstance(found, Mapping):
        found = _snapshot_category(version, path) or {}
    levels = found.get("guidance") or found.get("levels") or {}
    if not isinstance(levels, Mapping):
        levels = {}
    return {
        "path": path,
        "name": str(found.get("name") or path),
        "description_html": render_untrusted(str(found.get("description") or "")),
        "levels": [(str(level), str(text)) for level, text in levels.items() if text],
        "rubric_html": render_untrusted(str(version.snapshot.get("rubric") or "")),
    }
