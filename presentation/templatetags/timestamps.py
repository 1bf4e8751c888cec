"""``{% load timestamps %}``: every time on every page in one format, in the viewer's zone.

``{{ value|when }}`` renders ``<time datetime="…">2026-03-01 14:05 CET</time>``;
``{{ value|when_text }}`` the text alone (for attributes and plain text). Naive values are
taken as UTC; ``None`` shows as an em dash.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from presentation.timezones import display_time

register = template.Library()
EMPTY = "—"


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
    return None


@register.filter
def when_text(value: Any) -> str:
    moment = _aware(value)
    if moment is None:
        if isinstance(value, date):
            return value.isoformat()
        return EMPTY if value in (None, "") else str(value)
    return display_time(moment)


@register.filter
def when(value: Any) -> SafeString | str:
    moment = _aware(value)
    if moment is None:
        return when_text(value)
    return format_html(
        '<time datetime="{}">{}</time>',
        moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        display_time(moment),
    )
