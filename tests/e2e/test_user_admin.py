"""An admin manages accounts in a real browser: creates a user with a generated password,
changes their roles, and the new user signs in with that password and lands on their page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import get_resolver

from accounts.models import UserChange
from tests.e2e.conftest import signed_in_page

pytestmark = pytest.mark.e2e


def test_admin_creates_a_user_changes_roles_and_the_user_signs_in(
    browser: Any, live_server: Any, personas: dict[str, User]
) -> None:
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    page = signed_in_page(browser, live_server, personas["alice"])
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto("/")
    page.get_by_role("link", name="Users", exact=True).click()
    page.wait_for_url("**/users/")
    page.get_by_role("link", name="New user").click()
    page.fill("#id_username", "carol")
    page.fill("#id_email", "carol@example.org")
    page.get_by_label("Annotator").check()
    page.get_by_label("Generate one (shown once)").check()
    page.get_by_role("button", name="Create user").click()
    password = page.locator("#generated-password").inner_text().strip()
    assert len(password) >= 20
    carol = User.objects.get(username="carol")
    assert set(carol.groups.values_list("name", flat=True)) == {"annotator"}

    # Give carol the reviewer role too, from her page.
    page.get_by_label("Reviewer").check()
    page.get_by_role("button", name="Save").click()
    page.locator(".messages", has_text="Saved carol.").wait_for()
    assert re.search(r"Reviewer", page.locator(".user-facts").inner_text())
    log = page.locator("#user-changes").inner_text()
    assert "Roles changed" in log and "annotator → annotator, reviewer" in log
    assert "Created" in log
    # The password was shown once: carol's page no longer holds it.
    assert password not in page.content()

    # Carol signs in with the generated password in a browser of her own.
    other = browser.new_context(base_url=live_server.url).new_page()
    other.set_default_timeout(30_000)
    other.goto("/accounts/login/")
    other.fill("#id_username", "carol")
    other.fill("#id_password", password)
    other.click("form:has(input[name=username]) button[type=submit]")
    other.wait_for_url("**/review/")  # a reviewer starts on the review queue
    nav = other.locator("nav.nav").inner_text()
    assert "Review" in nav and "My work" in nav and "Users" not in nav
    # And is refused the admin pages, on a page that keeps the navigation.
    response = other.goto("/users/")
    assert response is not None and response.status == 403
    assert other.locator("nav.nav").count() == 1
    assert "You may not open this page" in other.content()

    assert [c.action for c in UserChange.objects.filter(user=carol).order_by("id")] == [
        "created",
        "roles",
    ]
    assert problems == []


def test_times_show_in_the_browsers_time_zone(
    browser: Any, live_server: Any, personas: dict[str, User]
) -> None:
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    alice = personas["alice"]
    page = signed_in_page(browser, live_server, alice, timezone_id="Asia/Tokyo")
    page.goto(f"/users/{alice.pk}/")  # the page's script tells the server the zone
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["graylab_tz"] == "Asia%2FTokyo"
    page.reload()
    joined = page.locator(".user-facts time").last
    assert joined.inner_text().endswith(" JST")
    machine = joined.get_attribute("datetime")
    assert machine is not None and machine.endswith("Z")
