"""Word diffs of policy texts (escaped, marked with classes), readable history, and the
confirmation step before publishing."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from policy import services
from policy.history import change_lines
from policy.models import Category, PolicyChange, PolicyVersion
from policy.text_diff import word_diff

pytestmark = pytest.mark.django_db


def test_word_diff_marks_changed_words_and_escapes_everything() -> None:
    old, new = word_diff(
        "Give <b>general</b> safety facts only.", "Give general safety facts and sources only."
    )
    assert old == 'Give <del class="diff-del">&lt;b&gt;general&lt;/b&gt;</del> safety facts only.'
    assert new == (
        'Give <ins class="diff-ins">general</ins> safety facts '
        '<ins class="diff-ins">and sources</ins> only.'
    )
    same_old, same_new = word_diff("line one\nline two", "line one\nline two")
    assert same_old == same_new == "line one\nline two"
    assert "<script" not in word_diff("", "<script>alert(1)</script>")[1]
    assert "style=" not in "".join(word_diff("a b c", "a x c"))


def _edit_guidance(user, path: str, level: str, text: str) -> None:  # type: ignore[no-untyped-def]
    category = Category.objects.get(path=path)
    guidance = dict(category.guidance)
    guidance[level] = text
    services.category_update(user=user, category=category, guidance=guidance)


def test_diff_page_shows_guidance_side_by_side_with_word_marks(
    seeded: None, personas: dict, client_for: Callable[[str], Client]
) -> None:
    alice = personas["alice"]
    category = Category.objects.get(path="benign/general")
    before = category.guidance.get("low", "")
    _edit_guidance(alice, "benign/general", "low", "Explain <i>safe</i> handling, cite sources.")
    services.policy_publish(user=alice, notes="guidance")
    page = client_for("anna").get("/policy/versions/1/diff/2/").content.decode()
    assert "Guidance changed" in page and "benign/general</code>: Low" in page
    section = page.split("Texts, old and new", 1)[1]
    assert "<code>benign/general</code> · Guidance · Low" in section
    assert '<ins class="diff-ins">' in section and "&lt;i&gt;safe&lt;/i&gt;" in section
    assert "<i>safe</i>" not in section
    if before:
        assert '<del class="diff-del">' in section
    # The unpublished-changes page too.
    _edit_guidance(alice, "benign/general", "high", "Refuse.")
    changes = client_for("alice").get("/policy/changes/").content.decode()
    assert "Guidance · High" in changes and '<ins class="diff-ins">Refuse.</ins>' in changes


def test_history_shows_readable_values_not_python_reprs(
    seeded: None, personas: dict, client_for: Callable[[str], Client]
) -> None:
    alice = personas["alice"]
    category = Category.objects.get(path="benign/general")
    _edit_guidance(alice, "benign/general", "moderate", "New moderate guidance")
    services.category_update(
        user=alice,
        category=category,
        examples_acceptable=["How do locks work?", "Why is the sky blue?"],
    )
    services.category_set_active(user=alice, category=category, active=False)
    services.working_policy_update(
        user=alice,
        severity_to_safety={
            "none": 1.0,
            "negligible": 0.7,
            "low": 0.5,
            "moderate": 0.2,
            "high": 0.0,
        },
    )
    page = client_for("alice").get(f"/policy/categories/{category.pk}/").content.decode()
    history = page.split('id="category-history"', 1)[1]
    assert "Guidance · Moderate" in history and "New moderate guidance" in history
    assert (
        "Acceptable examples" in history and "How do locks work?\nWhy is the sky blue?" in history
    )
    assert "Active: yes → no" in history
    for repr_marker in ("{'", "['", "': '", "None", "True", "False", "examples_acceptable"):
        assert repr_marker not in history, repr_marker
    mapping = PolicyChange.objects.get(action="mapping")
    assert [(line["label"], line["old"], line["new"]) for line in change_lines(mapping)] == [
        ("Severity → safety · Negligible", "0.8", "0.7")
    ]
    editor = client_for("alice").get("/policy/").content.decode()
    assert "Severity → safety · Negligible: 0.8 → 0.7" in editor


def test_publish_asks_for_confirmation_first(
    seeded: None, personas: dict, client_for: Callable[[str], Client]
) -> None:
    alice = personas["alice"]
    client = client_for("alice")
    editor = client.get("/policy/").content.decode()
    form = re.search(
        r'<form method="(\w+)" action="/policy/publish/" class="publish-form">', editor
    )
    assert form and form.group(1) == "get"  # the editor's button only opens the confirmation
    empty = client.get("/policy/publish/").content.decode()
    assert "Publish version 2?" in empty and "Nothing changed since the latest version" in empty
    _edit_guidance(alice, "benign/general", "low", "Changed for v2")
    confirm = client.get("/policy/publish/", {"notes": "v2 notes"})
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Publish version 2?" in html
    assert "Nothing changed" not in html
    assert "Guidance · Low" in html and '<ins class="diff-ins">' in html
    assert ">v2 notes</textarea>" in html
    assert not PolicyVersion.objects.filter(number=2).exists()  # looking publishes nothing
    response = client.post("/policy/publish/", {"notes": "v2 notes"})
    assert response.status_code == 302 and response["Location"] == "/policy/versions/2/"
    assert PolicyVersion.objects.get(number=2).notes == "v2 notes"
