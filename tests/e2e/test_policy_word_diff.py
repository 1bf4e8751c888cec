"""An admin edits a category's guidance, confirms the publish, and every role reads the
guidance old and new side by side with the changed words marked (Playwright + Chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import get_resolver

from policy.models import Category, PolicyVersion
from policy.seed import ensure_default_policy
from tests.e2e.conftest import signed_in_page

pytestmark = pytest.mark.e2e


def test_guidance_edit_confirmed_publish_and_side_by_side_word_diff(
    browser: Any, live_server: Any, personas: dict[str, User]
) -> None:
    ensure_default_policy()
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    category = Category.objects.get(path="benign/general")
    page = signed_in_page(browser, live_server, personas["alice"])
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"/policy/categories/{category.pk}/")
    field = page.locator("textarea[name=guidance_low]")
    field.fill("Answer plainly and point to <b>trusted</b> sources.")
    page.get_by_role("button", name="Save").click()
    page.locator("#category-form .notice", has_text="Saved.").wait_for()
    # The history shows the change as text, not a stored dict.
    history = page.locator("#category-history").inner_text()
    assert "Guidance · Low" in history and "{'" not in history

    page.goto("/policy/")
    page.fill("#publish-notes", "Plainer low guidance")
    page.get_by_role("button", name="Publish as a new version…").click()
    page.get_by_role("heading", name="Publish version 2?").wait_for()
    change = page.locator(".text-change", has_text="Guidance · Low")
    assert change.locator("ins.diff-ins").count() >= 1
    assert not PolicyVersion.objects.filter(number=2).exists()
    page.get_by_role("button", name="Publish version 2").click()
    page.wait_for_url("**/policy/versions/2/")

    reader = signed_in_page(browser, live_server, personas["anna"])
    reader.goto("/policy/versions/1/diff/2/")
    change = reader.locator(".text-change", has_text="Guidance · Low")
    old, new = change.locator(".diff-old"), change.locator(".diff-new")
    # Side by side: the two columns sit next to each other.
    old_box, new_box = old.bounding_box(), new.bounding_box()
    assert old_box and new_box and new_box["x"] > old_box["x"] + old_box["width"] - 1
    assert abs(new_box["y"] - old_box["y"]) < 2
    inserted = " ".join(new.locator("ins.diff-ins").all_inner_texts())
    assert "<b>trusted</b>" in inserted  # shown as text, escaped, never as markup
    assert new.locator("b").count() == 0
    background = new.locator("ins.diff-ins").first.evaluate(
        "node => getComputedStyle(node).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert problems == []
