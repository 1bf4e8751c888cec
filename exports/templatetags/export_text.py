"""Template filters of the export pages: the manifest's codes and settings as words."""

from __future__ import annotations

from typing import Any

from django import template

from ..readable import code_text as code_words
from ..readable import setting_rows

register = template.Library()


@register.filter
def code_text(value: Any) -> str:
    """``too_few_judgments`` → "too few judgments"."""
    return code_words(value)


@register.filter
def settings_text(spec: Any) -> list[tuple[str, str]]:
    """An export's stored settings as (label, value) rows."""
    return setting_rows(spec or {})
