"""``{% load policy_markdown %}`` then ``{{ text|markdown }}``: sanitised markdown."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from presentation.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: Any) -> SafeString:
    """Render untrusted markdown; wrap the output in an element with ``hx-disable``."""
    return render_markdown(text)
