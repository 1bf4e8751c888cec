"""``{% load policy_markdown %}`` then ``{{ text|markdown }}``: policy text as sanitised markdown.

For text admins write (taxonomy guidance, rubric, campaign instructions) only: links to
absolute http(s) and mailto targets, no image. Prompts and model output use
``{% load untrusted_text %}`` (``|untrusted``, ``|candidate_html``), which keeps neither.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from presentation.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: Any) -> SafeString:
    """Render policy markdown; wrap the output in an element with ``hx-disable``."""
    return render_markdown(text)
