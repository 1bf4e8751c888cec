"""Policy history rows as people read them: one line per changed thing, rubric labels for
rubric values, texts as word diffs, never a stored dict or list.

``PolicyChange.changes`` keeps ``field → [old, new]`` as stored (guidance per severity
level, example lists, the mapping per level, whole level-description tables, an import's
diff); :func:`change_lines` turns one row into lines of ``label`` with ``old``/``new`` text or,
for texts, ``old_html``/``new_html`` word diffs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .models import PolicyChange
from .rubric import FIELD_LABELS, LEVEL_KEYS, SEVERITY_LEVELS, value_label
from .text_diff import word_diff

EMPTY = "—"
DIFF_KIND_LABELS = {
    "added": "added",
    "removed": "removed",
    "moved": "moved",
    "renamed": "renamed",
    "guidance_changed": "guidance changed",
    "edited": "texts edited",
    "deactivated": "deactivated",
    "activated": "activated",
    "reordered": "reordered",
}
SCALAR_LABELS = {
    "name": "Name",
    "slug": "Slug",
    "path": "Path",
    "parent": "Parent",
    "version": "Version",
    "notes": "Notes",
}
TEXT_LABELS = {
    "description": "Description",
    "examples_acceptable": "Acceptable examples",
    "examples_unacceptable": "Unacceptable examples",
    "rubric": "Rubric text",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\n".join(str(item) for item in value)
    return str(value)


def _text_line(label: str, old: Any, new: Any) -> dict[str, Any]:
    old_html, new_html = word_diff(_text(old), _text(new))
    return {"kind": "diff", "label": label, "old_html": old_html, "new_html": new_html}


def _scalar(field: str, value: Any) -> str:
    if value is None or value == "":
        return "top level" if field == "parent" else EMPTY
    if field == "version":
        return f"v{value}"
    return str(value)


def _guidance_lines(old: Any, new: Any) -> list[dict[str, Any]]:
    before = old if isinstance(old, Mapping) else {}
    after = new if isinstance(new, Mapping) else {}
    return [
        _text_line(
            f"Guidance · {value_label('severity', level)}", before.get(level), after.get(level)
        )
        for level in SEVERITY_LEVELS
        if (before.get(level) or "") != (after.get(level) or "")
    ]


def _levels_lines(old: Any, new: Any) -> list[dict[str, Any]]:
    before = old if isinstance(old, Mapping) else {}
    after = new if isinstance(new, Mapping) else {}
    lines = []
    for kind, keys in LEVEL_KEYS.items():
        for key in keys:
            old_text = (before.get(kind) or {}).get(key, "")
            new_text = (after.get(kind) or {}).get(key, "")
            if old_text != new_text:
                label = f"{FIELD_LABELS.get(kind, kind)} · {value_label(kind, key)}"
                lines.append(_text_line(label, old_text, new_text))
    return lines


def _import_summary(diff: Mapping[str, Any]) -> list[dict[str, Any]]:
    categories = diff.get("categories") or {}
    parts = [
        f"{len(entries)} {DIFF_KIND_LABELS.get(kind, kind.replace('_', ' '))}"
        for kind, entries in categories.items()
        if entries
    ]
    if diff.get("severity_to_safety"):
        parts.append("severity → safety mapping changed")
    if diff.get("rubric_changed"):
        parts.append("rubric text changed")
    if diff.get("levels_changed"):
        parts.append("level descriptions changed")
    return [{"kind": "text", "label": "Imported", "text": ", ".join(parts) or "no change"}]


def change_lines(change: PolicyChange) -> list[dict[str, Any]]:
    """The readable lines of one history row (see the module docstring)."""
    values = change.changes or {}
    if change.action == PolicyChange.Action.MAPPING:
        return [
            {
                "kind": "change",
                "label": f"Severity → safety · {value_label('severity', level)}",
                "old": _scalar(level, pair[0]),
                "new": _scalar(level, pair[1]),
            }
            for level, pair in values.items()
        ]
    lines: list[dict[str, Any]] = []
    for field, pair in values.items():
        if field == "diff" and isinstance(pair, Mapping):
            lines += _import_summary(pair)
            continue
        if field == "import":
            kinds = pair if isinstance(pair, list) else [pair]
            text = ", ".join(DIFF_KIND_LABELS.get(str(k), str(k).replace("_", " ")) for k in kinds)
            lines.append({"kind": "text", "label": "Imported", "text": text})
            continue
        old, new = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
        if field == "guidance":
            lines += _guidance_lines(old, new)
        elif field == "levels":
            lines += _levels_lines(old, new)
        elif field in TEXT_LABELS:
            lines.append(_text_line(TEXT_LABELS[field], old, new))
        elif field == "active":
            lines.append(
                {"kind": "change", "label": "Active", "old": _yes_no(old), "new": _yes_no(new)}
            )
        elif field == "order":
            lines.append(
                {
                    "kind": "change",
                    "label": "Position",
                    "old": _position(old),
                    "new": _position(new),
                }
            )
        else:
            label = SCALAR_LABELS.get(field, field.replace("_", " ").capitalize())
            lines.append(
                {
                    "kind": "change",
                    "label": label,
                    "old": _scalar(field, old),
                    "new": _scalar(field, new),
                }
            )
    return lines


def _yes_no(value: Any) -> str:
    return EMPTY if value is None else ("yes" if value else "no")


def _position(value: Any) -> str:
    # Stored from 0; people count siblings from 1.
    return str(value + 1) if isinstance(value, int) else EMPTY


def readable_history(changes: Any) -> list[dict[str, Any]]:
    """History rows with their readable lines (``row.lines``), for the templates."""
    rows = list(changes)
    for row in rows:
        row.lines = change_lines(row)
    return rows
