"""Old and new policy texts side by side, with the changed words marked.

:func:`word_diff` compares two texts word by word (``difflib``) and answers both sides as
escaped HTML: words only in the old text in ``<del class="diff-del">``, words only in the new
one in ``<ins class="diff-ins">``. No style or script: the page's stylesheet colours them.
:func:`text_changes` lists every changed text between two policy documents (category
guidance per severity level, descriptions, examples, the rubric text and the level
descriptions), each with its word diff.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .rubric import FIELD_LABELS, LEVEL_KEYS, SEVERITY_LEVELS, value_label

# Words and the whitespace between them are separate tokens, so a diff keeps line breaks.
_TOKENS = re.compile(r"\s+|[^\s]+")
CATEGORY_TEXTS = (
    ("description", "Description"),
    ("examples_acceptable", "Acceptable examples"),
    ("examples_unacceptable", "Unacceptable examples"),
)


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text or "")


def _marked(tokens: Iterable[str], tag: str) -> str:
    """The tokens in ``tag``; whitespace at either end stays outside, unmarked."""
    text = "".join(tokens)
    core = text.strip()
    if not core:
        return escape(text)
    start = text.index(core)
    lead, trail = text[:start], text[start + len(core) :]
    return f'{escape(lead)}<{tag} class="diff-{tag}">{escape(core)}</{tag}>{escape(trail)}'


def _segments(before: list[str], after: list[str]) -> list[tuple[bool, list[str], list[str]]]:
    """``(changed, old tokens, new tokens)`` runs; the whitespace between two changed runs
    joins them, so a rewritten sentence reads as one change, not word by word."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    segments: list[tuple[bool, list[str], list[str]]] = []
    for operation, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        segments.append((operation != "equal", before[a_start:a_end], after[b_start:b_end]))
    merged: list[tuple[bool, list[str], list[str]]] = []
    for index, (changed, old, new) in enumerate(segments):
        between_changes = (
            not changed
            and 0 < index < len(segments) - 1
            and all(not token.strip() for token in old)
            and segments[index + 1][0]
        )
        if (changed or between_changes) and merged and merged[-1][0]:
            merged[-1] = (True, merged[-1][1] + old, merged[-1][2] + new)
        else:
            merged.append((changed or between_changes, list(old), list(new)))
    return merged


def word_diff(old: str, new: str) -> tuple[SafeString, SafeString]:
    """``(old_html, new_html)``: both texts escaped, the changed words marked."""
    old_html: list[str] = []
    new_html: list[str] = []
    for changed, before, after in _segments(_tokens(old), _tokens(new)):
        if not changed:
            old_html.append(escape("".join(before)))
            new_html.append(escape("".join(after)))
            continue
        if before:
            old_html.append(_marked(before, "del"))
        if after:
            new_html.append(_marked(after, "ins"))
    # Every piece was escaped above; the only markup is the two tags this module writes.
    return mark_safe("".join(old_html)), mark_safe("".join(new_html))  # noqa: S308


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\n".join(str(item) for item in value)
    return str(value)


def _change(where: str, label: str, old: Any, new: Any) -> dict[str, Any]:
    old_html, new_html = word_diff(_as_text(old), _as_text(new))
    return {
        "where": where,
        "label": label,
        "old_html": old_html,
        "new_html": new_html,
        "old_empty": not _as_text(old).strip(),
        "new_empty": not _as_text(new).strip(),
    }


def _match(
    old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Categories present on both sides, matched by uid (else by path), in new-path order."""
    old_list = list(old)
    by_uid = {entry["uid"]: entry for entry in old_list if entry.get("uid")}
    by_path = {entry["path"]: entry for entry in old_list}
    pairs = []
    for entry in sorted(new, key=lambda item: item["path"]):
        before = by_uid.get(entry.get("uid")) if entry.get("uid") else None
        before = before or by_path.get(entry["path"])
        if before is not None:
            pairs.append((before, entry))
    return pairs


def text_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every text that differs between two policy documents, with its word diff."""
    changes: list[dict[str, Any]] = []
    for before, after in _match(old.get("categories", []), new.get("categories", [])):
        path = after["path"]
        old_guidance = before.get("guidance") or {}
        new_guidance = after.get("guidance") or {}
        for level in SEVERITY_LEVELS:
            if old_guidance.get(level, "") != new_guidance.get(level, ""):
                changes.append(
                    _change(
                        path,
                        f"Guidance · {value_label('severity', level)}",
                        old_guidance.get(level, ""),
                        new_guidance.get(level, ""),
                    )
                )
        for field, label in CATEGORY_TEXTS:
            if before.get(field) != after.get(field):
                changes.append(_change(path, label, before.get(field), after.get(field)))
    if (old.get("rubric") or "") != (new.get("rubric") or ""):
        changes.append(_change("Rubric", "Rubric text", old.get("rubric"), new.get("rubric")))
    old_levels = old.get("levels") or {}
    new_levels = new.get("levels") or {}
    for kind, keys in LEVEL_KEYS.items():
        for key in keys:
            before_text = (old_levels.get(kind) or {}).get(key, "")
            after_text = (new_levels.get(kind) or {}).get(key, "")
            if before_text != after_text:
                label = f"{FIELD_LABELS.get(kind, kind)} · {value_label(kind, key)}"
                changes.append(_change("Level descriptions", label, before_text, after_text))
    return changes
