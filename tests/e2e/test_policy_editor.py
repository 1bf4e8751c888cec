"""An admin edits the taxonomy in a real browser (Playwright + Chromium): add, rename and move
a category with htmx, publish, and read the diff between the two versions."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from policy.models import Category, PolicyVersion
from policy.seed import ensure_default_policy

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def admin_user(transactional_db: None) -> User:
    # A transactional test starts from whatever the previous one left: seed what we need.
    ensure_default_policy()
    group, _ = Group.objects.get_or_create(name="admin")
    user = User.objects.create_user(username="alice", password=PASSWORD)
    user.groups.add(group)
    return user


def test_admin_edits_publishes_and_reads_the_diff(
    browser: Any, live_server: Any, admin_user: User, tmp_path: Any
) -> None:
    # The server's first request imports every URL module; on a busy machine that is slow,
    # so it happens here rather than inside a browser timeout.
    urllib.request.urlopen(live_server.url + "/accounts/login/", timeout=120).close()
    page = browser.new_page(base_url=live_server.url)
    page.set_default_timeout(20_000)
    problems: list[str] = []
    # Console errors (a CSP violation shows up here) and script errors; a 422 answer to a bad
    # edit is expected and logged by the browser as a failed resource, so responses are
    # checked by status instead.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.status != 422 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )

    page.goto("/accounts/login/?next=/policy/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/policy/")

    # Add a category under biology (htmx swaps the tree in place: the URL does not change).
    add = page.locator("form.add-form")
    add.locator("input[name=parent]").fill("biology")
    add.locator("input[name=slug]").fill("lab-safety")
    add.locator("input[name=name]").fill("<img src=x onerror=window.__pwned=1>")
    add.locator("button[type=submit]").click()
    node = page.locator('li[data-path="biology/lab-safety"]')
    node.wait_for()
    assert page.url.endswith("/policy/")
    # The unpublished-changes panel was refreshed out of band.
    page.locator("#unpublished .diff-added", has_text="biology/lab-safety").wait_for()
    # The name is shown as text, never run.
    assert "<img src=x" in node.locator(".node-name").inner_text()
    assert page.evaluate("window.__pwned") is None

    # Rename it in place.
    node.get_by_role("link", name="Rename").click()
    rename = node.locator("form.rename-form")
    rename.locator("input[name=name]").fill("Laboratory safety")
    rename.locator("button[type=submit]").click()
    page.locator(
        'li[data-path="biology/lab-safety"] .node-name', has_text="Laboratory safety"
    ).wait_for()

    # Move it under chemistry.
    node = page.locator('li[data-path="biology/lab-safety"]')
    node.locator("summary", has_text="More").click()
    move = node.locator("form.move-form")
    move.locator("input[name=parent]").fill("chemistry")
    move.locator("button[type=submit]").click()
    page.locator('li[data-path="chemistry/lab-safety"]').wait_for()
    assert page.locator('li[data-path="biology/lab-safety"]').count() == 0

    # A bad edit shows the field and the reason, and changes nothing.
    add = page.locator("form.add-form")
    add.locator("input[name=parent]").fill("chemistry")
    add.locator("input[name=slug]").fill("weapons")
    add.locator("input[name=name]").fill("Again")
    add.locator("button[type=submit]").click()
    page.locator("#taxonomy-tree .error-box", has_text="already used by a sibling").wait_for()

    # Publish with notes: the button opens the confirmation step, which shows what v2
    # changes; nothing is published until it is confirmed there.
    page.fill("#publish-notes", "Lab safety under chemistry")
    page.get_by_role("button", name="Publish as a new version…").click()
    page.wait_for_url("**/policy/publish/?notes=*")
    page.get_by_role("heading", name="Publish version 2?").wait_for()
    assert page.locator(".diff-added").all_inner_texts() == ["chemistry/lab-safety"]
    assert page.input_value("#publish-notes") == "Lab safety under chemistry"
    assert not PolicyVersion.objects.filter(number=2).exists()
    page.get_by_role("button", name="Publish version 2").click()
    page.wait_for_url("**/policy/versions/2/")
    assert "Lab safety under chemistry" in page.content()

    # Compare v1 and v2 from the versions page.
    page.goto("/policy/versions/")
    page.select_option("select[name=old]", "1")
    page.select_option("select[name=new]", "2")
    page.get_by_role("button", name="Show differences").click()
    page.wait_for_url("**/policy/versions/1/diff/2/")
    added = page.locator(".diff-added").all_inner_texts()
    assert added == ["chemistry/lab-safety"]
    page.screenshot(path=str(tmp_path / "diff.png"), full_page=True)

    version = PolicyVersion.objects.get(number=2)
    assert "chemistry/lab-safety" in version.leaf_paths()
    assert version.published_by == admin_user
    assert Category.objects.get(path="chemistry/lab-safety").name == "Laboratory safety"
    assert problems == []
