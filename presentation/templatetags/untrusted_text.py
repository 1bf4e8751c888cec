"""``{% load untrusted_text %}``: prompts and model output as inert HTML in any template.

``{{ message.content|untrusted }}`` renders a text; ``{{ candidate|candidate_html }}`` uses the
candidate's stored rendering when this renderer made it. Both go through
``presentation.untrusted_text``, so the output holds no link, image or attribute whatever
the text says. Templates still wrap it in an element with ``hx-disable``.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from presentation.untrusted_text import HasStoredHtml, candidate_html, render_untrusted

register = template.Library()


@register.filter(name="untrusted")
def untrusted_filter(text: Any) -> SafeString:
    """Render a prompt's or a model's text inert (``render_untrusted``); None renders empty."""
    if text is None:
        return render_untrusted("")
    # JSON content that is not a string (a malformed import) is shown as its text form.
    return render_untrusted(text if isinstance(text, str) else str(text))


@register.filter(name="candidate_html")
def candidate_html_filter(candidate: HasStoredHtml) -> SafeString:
    """A candidate's inert HTML: stored when this renderer made it, else rendered now."""
    return candidate_html(candidate)
