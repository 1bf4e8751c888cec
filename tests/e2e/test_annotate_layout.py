"""The pair page at a common laptop size (1400×900): Submit stays in view without scrolling
(a sticky action bar), and the guidance panel's content is never clipped sideways."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import open_pair_page, signed_in_page

pytestmark = pytest.mark.e2e

IN_VIEW = """(selector) => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0;
}"""


def test_submit_in_view_and_guidance_unclipped(
    browser: Any,
    live_server: Any,
    annotation_campaign: Any,
    personas: dict[str, Any],
) -> None:
    page = signed_in_page(
        browser, live_server, personas["anna"], viewport={"width": 1400, "height": 900}
    )
    open_pair_page(page, annotation_campaign.slug)
    submit = "#judgment-form button[type=submit]"
    assert page.evaluate(IN_VIEW, submit), "Submit must be visible without scrolling"
    # Still in view after scrolling through the texts to the middle of the page.
    page.mouse.wheel(0, 400)
    page.wait_for_timeout(100)
    assert page.evaluate(IN_VIEW, submit)

    page.keyboard.press("Shift+G")
    assert page.locator("#guidance-panel").get_attribute("open") is not None
    clipped = page.evaluate(
        """() => {
          const panel = document.getElementById('guidance-panel');
          const right = panel.getBoundingClientRect().right;
          return [...panel.querySelectorAll('table, dl, p, li')]
            .filter((el) => el.getBoundingClientRect().right > right + 1).length;
        }"""
    )
    assert clipped == 0
