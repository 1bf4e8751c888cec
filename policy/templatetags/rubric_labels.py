"""``{% load rubric_labels %}``: rubric values as the rubric names them, never as stored.

``{{ prompt.intent|intent_label }}`` → "Dual-use", ``{{ value|mode_label }}`` → "Safe-completion",
``|severity_label``, ``|helpfulness_label`` ("3 · Moderately helpful"), ``|preference_label``
(stored A/B order: "−1 · A slightly better"), ``|flag_label``. Every label comes from
``policy.rubric``; a value the rubric does not know shows as given, and ``None`` as a dash.
"""

from __future__ import annotations

from typing import Any

from django import template

from policy.rubric import (
    FIELD_LABELS,
    HELPFULNESS_LABELS,
    PREFERENCE_DIRECTION_LABELS,
    PREFERENCE_LABELS,
    Flag,
    Intent,
    ResponseMode,
    Severity,
    value_label,
)
from policy.text_diff import CATEGORY_TEXTS

register = template.Library()
EMPTY = "—"


def _choice_label(choices: Any, value: Any) -> str:
    if value is None or value == "":
        return EMPTY
    labels = dict(choices.choices)
    return str(labels.get(str(value), value))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@register.filter
def intent_label(value: Any) -> str:
    return _choice_label(Intent, value)


@register.filter
def mode_label(value: Any) -> str:
    return _choice_label(ResponseMode, value)


@register.filter
def severity_label(value: Any) -> str:
    return _choice_label(Severity, value)


@register.filter
def flag_label(value: Any) -> str:
    return _choice_label(Flag, value)


@register.filter
def helpfulness_label(value: Any) -> str:
    grade = _int_or_none(value)
    if grade is None:
        return EMPTY if value in (None, "") else str(value)
    label = HELPFULNESS_LABELS.get(grade)
    return f"{grade} · {label}" if label else str(grade)


@register.filter
def preference_label(value: Any) -> str:
    """A stored (canonical A/B) preference with its sign: "+1 · B slightly better"."""
    preference = _int_or_none(value)
    if preference is None:
        return EMPTY if value in (None, "") else str(value)
    label = PREFERENCE_LABELS.get(preference)
    number = f"{preference:+d}".replace("-", "\N{MINUS SIGN}") if preference else "0"
    return f"{number} · {label}" if label else number


@register.filter
def direction_label(value: Any) -> str:
    """The direction a stored preference points: "A better", "about equal", "B better"."""
    preference = _int_or_none(value)
    if preference is None:
        return EMPTY if value in (None, "") else str(value)
    return PREFERENCE_DIRECTION_LABELS[(preference > 0) - (preference < 0)]


@register.filter
def text_field_label(value: Any) -> str:
    """A category's text field: "examples_acceptable" → "Acceptable examples"."""
    return dict(CATEGORY_TEXTS).get(str(value), str(value).replace("_", " "))


@register.filter
def level_key_label(value: Any) -> str:
    """A level description's key "severity.low" as "Severity · Low"."""
    kind, _, key = str(value).partition(".")
    return f"{FIELD_LABELS.get(kind, kind)} · {value_label(kind, key)}"


@register.filter
def rubric_value(value: Any, field: str) -> str:
    """A value of the rubric field the argument names: ``{{ value|rubric_value:"severity" }}``."""
    return value_label(str(field), value)


@register.filter
def field_label(value: Any) -> str:
    """A rubric field's name as pages show it: "response_mode" → "Response mode"."""
    return FIELD_LABELS.get(str(value), str(value).replace("_", " "))
