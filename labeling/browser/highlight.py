"""Search matches marked in untrusted text, safely.

Prompts and completions are attacker-controlled, so a highlight is built from the plain
text: every piece is escaped and only the ``<mark>`` elements added here are markup. Nothing
of the text is ever interpreted as HTML (not even the stored, sanitised rendering).
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

SNIPPET_CHARACTERS = 240
SNIPPET_LEAD = 80
# Suffixes trimmed from a searched word so that its other forms are marked too, as the
# English stemming of the search finds them ("planting" marks "plants").
_SUFFIXES = ("ing", "ed", "es", "s")


def _stem(word: str) -> str:
    lowered = word.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) - len(suffix) >= 3:
            return lowered[: -len(suffix)]
    return lowered


def _pattern(words: list[str]) -> re.Pattern[str] | None:
    stems = sorted({_stem(word) for word in words if word}, key=len, reverse=True)
    if not stems:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(stem) for stem in stems) + r")\w*", re.I)


def highlighted_snippet(text: str, words: list[str]) -> SafeString:
    """An excerpt of ``text`` around its first match, escaped, with matches in ``<mark>``;
    the start of the text when nothing matches (or nothing is searched)."""
    pattern = _pattern(words)
    match = pattern.search(text) if pattern else None
    start = max(0, match.start() - SNIPPET_LEAD) if match else 0
    end = min(len(text), start + SNIPPET_CHARACTERS)
    excerpt = text[start:end]
    pieces: list[str] = ["…" if start else ""]
    position = 0
    if pattern is not None:
        for found in pattern.finditer(excerpt):
            pieces.append(escape(excerpt[position : found.start()]))
            pieces.append(f"<mark>{escape(found.group(0))}</mark>")
            position = found.end()
    pieces.append(escape(excerpt[position:]))
    if end < len(text):
        pieces.append("…")
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of the text is escaped


def has_match(text: str, words: list[str]) -> bool:
    pattern = _pattern(words)
    return bool(pattern and pattern.search(text))
