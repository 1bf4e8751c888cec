"""A person rates pairs with the keyboard only (Playwright + Chromium), with autosave, the
shortcut list, guidance, a rationale, validation and focus kept after each htmx swap."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.models import Assignment, Judgment, Skip
from tests.e2e.conftest import open_pair_page, signed_in_page

pytestmark = pytest.mark.e2e


def current_assignment(page: Any) -> str:
    return page.locator("#annotate-root").get_attribute("data-assignment")


FOCUS_IN_PAIR_PAGE = (
    "() => { const r = document.getElementById('annotate-root');"
    " return !!r && (document.activeElement === r || r.contains(document.activeElement)); }"
)


def focus_is_in_the_pair_page(page: Any) -> bool:
    """Focus lands on the pair page once htmx has settled the swap (it settles a moment later)."""
    try:
        page.wait_for_function(FOCUS_IN_PAIR_PAGE, timeout=5000)
    except Exception:  # noqa: BLE001 - Playwright's timeout: focus never arrived
        return False
    return True


def test_rate_pairs_with_the_keyboard_only(browser, live_server, annotation_campaign, personas):
    anna = personas["anna"]
    page = signed_in_page(browser, live_server, anna)
    console_errors: list[str] = []
    page.on(
        "console", lambda message: message.type == "error" and console_errors.append(message.text)
    )
    open_pair_page(page, annotation_campaign.slug)
    first = current_assignment(page)
    assert first
    assert focus_is_in_the_pair_page(page)

    # "?" lists the shortcuts; Escape closes the list.
    page.keyboard.press("?")
    assert page.locator("#shortcut-help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#shortcut-help").is_visible()

    # Shift+G shows the category's guidance.
    page.keyboard.press("Shift+G")
    assert page.locator("#guidance-panel").get_attribute("open") is not None
    page.keyboard.press("Escape")

    # Left: safe-completion, no violation, helpfulness 3. Right: hard refusal, none, 1.
    with page.expect_response(lambda response: "/draft/" in response.url):
        for key in ("w", "a", "c", "o", "h", "b"):
            page.keyboard.press(key)
    # Autosave keeps the half-done form across a reload.
    page.reload()
    assert current_assignment(page) == first
    assert page.locator("input[name=left_response_mode][value=safe_completion]").is_checked()
    assert page.locator("input[name=right_helpfulness][value='1']").is_checked()

    # Preference: left slightly better (2), then Enter submits and the next pair arrives.
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.getElementById('annotate-root').dataset.assignment !== '{first}'"
    )
    assert "Saved." in page.locator("#save-status").inner_text()
    assert focus_is_in_the_pair_page(page), "focus must stay on the pair page after a swap"
    judgment = Judgment.objects.get(assignment_id=int(first))
    assignment = Assignment.objects.get(pk=int(first))
    left, right = ("a", "b") if assignment.left_is_a else ("b", "a")
    assert getattr(judgment, f"{left}_response_mode") == "safe_completion"
    assert getattr(judgment, f"{left}_helpfulness") == 3
    assert getattr(judgment, f"{right}_response_mode") == "hard_refusal"
    assert getattr(judgment, f"{right}_helpfulness") == 1
    assert judgment.preference == (-1 if assignment.left_is_a else 1)
    assert judgment.time_on_task_ms and judgment.time_on_task_ms > 0

    # Second pair: a strong preference needs a rationale; the form says so and keeps values.
    second = current_assignment(page)
    # Left: direct answer, none, 4. Right: direct answer, none, 1. Left much better (1),
    # flag "needs expert" (7), and no rationale yet.
    for key in ("q", "a", "v", "y", "h", "b", "1", "7"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.locator("text=Write a short rationale").wait_for()
    assert current_assignment(page) == second
    assert page.locator("input[name=preference][value='-2']").is_checked()
    assert page.locator("#flag-needs_expert").is_checked()
    page.keyboard.press("/")
    page.keyboard.type("The left answers fully and safely; the right gives nothing.")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        f"() => document.getElementById('annotate-root').dataset.assignment !== '{second}'"
    )
    judgment = Judgment.objects.get(assignment_id=int(second))
    assert judgment.rationale.startswith("The left answers fully")
    # After the swap settles, focus is on the pair page itself, not the old text field.
    page.wait_for_function("() => document.activeElement.id === 'annotate-root'", timeout=5000)
    assert judgment.flags == ["needs_expert"]
    assert abs(judgment.preference) == 2

    # Shift+S opens the skip form on its reason; Enter there skips, the next pair arrives.
    third = current_assignment(page)
    third_pair = Assignment.objects.get(pk=int(third)).pair_id
    page.keyboard.press("Shift+S")
    assert page.locator("#skip-panel").get_attribute("open") is not None
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.getElementById('annotate-root').dataset.assignment !== '{third}'"
    )
    assert Skip.objects.filter(pair_id=third_pair, annotator=anna).exists()

    # A reason with details: Tab to the details field, type, Enter.
    fourth = current_assignment(page)
    page.keyboard.press("Shift+S")
    page.keyboard.press("Tab")  # to the details field
    page.keyboard.type("not sure")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.getElementById('annotate-root').dataset.assignment !== '{fourth}'"
    )
    # No console error all along: autosave requests included (they disable nothing).
    assert console_errors == []
    page.screenshot(path="/tmp/annotate_keyboard.png", full_page=True)
