"""Template filters of the learnability report: shares as percentages, intervals as ranges."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(value: Any) -> str:
    """0.8123 → "81.2%"; nothing → "—"."""
    if value is None or value == "":
        return "—"
    return f"{100 * float(value):.1f}%"


@register.filter
def interval(value: Any) -> str:
    """[0.7, 0.9] → "70.0–90.0%"; nothing → "—"."""
    if not value:
        return "—"
    low, high = value
    return f"{100 * float(low):.1f}–{100 * float(high):.1f}%"
