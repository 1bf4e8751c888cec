"""The editor pages (admins only, htmx in place) and the read-only pages (every role)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client

from policy import services
from policy.models import Category, PolicyChange, PolicyVersion
from policy.selectors import category_guidance, latest_version

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NON_ADMINS = ("rita", "victor", "anna", "nobody")
READERS = ("alice", "rita", "victor", "anna", "ben")


def cat(path: str) -> Category:
    return Category.objects.get(path=path)


def write_requests() -> list[tuple[str, str, dict[str, Any]]]:
    pk = cat("benign/general").pk
    return [
        ("get", "/policy/", {}),
        ("get", f"/policy/categories/{pk}/", {}),
        ("get", f"/policy/categories/{pk}/rename/", {}),
        ("get", "/policy/rubric/edit/", {}),
        ("get", "/policy/import/", {}),
        ("get", "/policy/changes/", {}),
        ("get", "/policy/export/?format=json", {}),  # the working copy
        ("post", "/policy/categories/add/", {"parent": "", "slug": "x", "name": "X"}),
        ("post", f"/policy/categories/{pk}/", {"name": "Hacked"}),
        ("post", f"/policy/categories/{pk}/rename/", {"name": "Hacked"}),
        ("post", f"/policy/categories/{pk}/move/", {"parent": ""}),
        ("post", f"/policy/categories/{pk}/reorder/", {"direction": "up"}),
        ("post", f"/policy/categories/{pk}/active/", {"active": "0"}),
        ("post", f"/policy/categories/{pk}/delete/", {}),
        ("post", "/policy/mapping/", {"none": 1, "negligible": 0, "low": 0, "moderate": 0,
                                      "high": 0}),
        ("post", "/policy/rubric/edit/", {"rubric": "hacked"}),
        ("get", "/policy/publish/", {}),
        ("post", "/policy/publish/", {"notes": "hacked"}),
        ("post", "/policy/import/", {}),
    ]  # fmt: skip


@pytest.mark.parametrize("name", NON_ADMINS)
def test_non_admins_get_403_on_every_editor_url(
    seeded: None, client_for: Callable[[str], Client], working: Callable[[], Any], name: str
) -> None:
    client = client_for(name)
    before = working()
    for method, url, data in write_requests():
        response = getattr(client, method)(url, data, **HX)
        assert response.status_code == 403, (name, method, url, response.status_code)
    assert working() == before
    assert PolicyVersion.objects.count() == 1


def test_anonymous_is_sent_to_sign_in(seeded: None) -> None:
    client = Client()
    for method, url, data in write_requests():
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Client().get("/policy/rubric/").status_code == 302


@pytest.mark.parametrize("name", READERS)
def test_every_role_reads_versions_and_the_rubric(
    seeded: None, personas: dict, client_for: Callable[[str], Client], name: str
) -> None:
    services.category_update(user=None, category=cat("biology"), name="Bio")
    services.policy_publish(user=personas["alice"], notes="second")
    client = client_for(name)
    for url in (
        "/policy/rubric/",
        "/policy/versions/",
        "/policy/versions/1/",
        "/policy/versions/1/rubric/",
        "/policy/versions/1/diff/2/",
        "/policy/versions/1/guidance/?path=biology/weaponization",
        "/policy/export/?version=1&format=yaml",
    ):
        response = client.get(url)
        assert response.status_code == 200, (name, url)
    diff = client.get("/policy/versions/1/diff/2/").content.decode()
    assert "“Biology” → “Bio”" in diff
    assert client.get("/policy/versions/9/").status_code == 404
    assert client.get("/policy/diff/?old=1&new=2")["Location"] == "/policy/versions/1/diff/2/"
    assert client_for("nobody").get("/policy/rubric/").status_code == 403


def test_rubric_page_shows_the_latest_version(
    seeded: None, personas: dict, client_for: Callable[[str], Client]
) -> None:
    services.working_policy_update(user=None, rubric="# Version two rubric\n<script>x()</script>")
    services.policy_publish(user=personas["alice"], notes="")
    page = client_for("anna").get("/policy/rubric/").content.decode()
    assert "Version two rubric" in page and "policy version 2" in page
    assert "<script>x()" not in page
    old = client_for("anna").get("/policy/versions/1/rubric/").content.decode()
    assert "How to judge a pair" in old


def test_guidance_partial_for_the_annotation_page(seeded: None) -> None:
    services.category_update(
        user=None,
        category=cat("biology/high-risk-dual-use"),
        guidance={"high": "Protocols <img src=x onerror=alert(1)> **never**."},
        examples_acceptable=["How PCR works, in general."],
    )
    version = services.policy_publish(user=None, notes="")
    guidance = category_guidance(version, "biology/high-risk-dual-use")
    assert guidance["name"] == "High-risk dual use"
    assert guidance["ancestors"] == [{"path": "biology", "name": "Biology"}]
    # Levels the leaf leaves empty fall back to the area's guidance.
    assert guidance["guidance"]["none"] == cat("biology").guidance["none"]
    assert [row["safety"] for row in guidance["rows"]] == [1.0, 0.8, 0.5, 0.2, 0.0]
    assert guidance["levels"]["severity"]["high"].startswith("Step-by-step")
    html = render_to_string("policy/includes/guidance.html", {"guidance": guidance})
    assert "<strong>never</strong>" in html
    assert "<img" not in html and "onerror" not in html.replace("onerror=alert(1)&gt;", "")
    assert "How PCR works, in general." in html
    assert "hx-disable" in html
    missing = category_guidance(latest_version(), "no/such")
    assert missing["found"] is False and len(missing["rows"]) == 5


def test_htmx_add_rename_move_reorder_deactivate(
    seeded: None, personas: dict, client_for: Callable[[str], Client]
) -> None:
    client = client_for("alice")
    response = client.post(
        "/policy/categories/add/", {"parent": "biology", "slug": "lab", "name": "Lab"}, **HX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="taxonomy-tree"' in body and "biology/lab" in body
    assert 'id="unpublished" hx-swap-oob="true"' in body and "Added" in body
    lab = cat("biology/lab")

    form = client.get(f"/policy/categories/{lab.pk}/rename/", **HX).content.decode()
    assert 'name="name" value="Lab"' in form
    client.post(f"/policy/categories/{lab.pk}/rename/", {"name": "Lab work", "slug": "lab-work"},
                **HX)  # fmt: skip
    client.post(f"/policy/categories/{lab.pk}/move/", {"parent": "chemistry"}, **HX)
    client.post(f"/policy/categories/{lab.pk}/reorder/", {"direction": "up"}, **HX)
    lab.refresh_from_db()
    assert (lab.path, lab.name, lab.order) == ("chemistry/lab-work", "Lab work", 1)
    client.post(f"/policy/categories/{lab.pk}/active/", {"active": "0"}, **HX)
    lab.refresh_from_db()
    assert lab.active is False

    page = client.get(f"/policy/categories/{lab.pk}/").content.decode()
    for action in ("Created", "Renamed", "Moved", "Reordered", "Deactivated"):
        assert action in page
    assert "alice" in page


def test_htmx_errors_answer_422_with_field_and_reason(
    seeded: None, client_for: Callable[[str], Client], working: Callable[[], Any]
) -> None:
    client = client_for("alice")
    before = working()
    biology = cat("biology")
    cases = [
        ("/policy/categories/add/", {"parent": "nowhere", "slug": "x", "name": "X"},
         "unknown parent"),
        ("/policy/categories/add/", {"parent": "biology", "slug": "weaponization", "name": "X"},
         "already used by a sibling"),
        ("/policy/categories/add/", {"parent": "", "slug": "Bad Slug", "name": "X"},
         "not a valid slug"),
        (f"/policy/categories/{biology.pk}/move/", {"parent": "biology/weaponization"},
         "cannot move under itself"),
        (f"/policy/categories/{biology.pk}/rename/", {"name": "n" * 121}, "longer than 120"),
        (f"/policy/categories/{cat('benign/general').pk}/delete/", {}, "deactivate it instead"),
        ("/policy/mapping/", {"none": 1, "negligible": 0.2, "low": 0.5, "moderate": 0.1,
                              "high": 0}, "must not increase"),
        ("/policy/mapping/", {"none": 1, "negligible": 0.8, "low": 0.5, "moderate": 0.2,
                              "high": 3}, "outside [0, 1]"),
    ]  # fmt: skip
    for url, data, reason in cases:
        response = client.post(url, data, **HX)
        assert response.status_code == 422, url
        assert reason in response.content.decode(), (url, reason)
    assert working() == before


def test_category_page_edits_guidance_and_examples(
    seeded: None, client_for: Callable[[str], Client]
) -> None:
    client = client_for("alice")
    general = cat("benign/general")
    data = {
        "name": "General",
        "slug": "general",
        "description": "Harmless.",
        "guidance_none": "Answer it.",
        "guidance_high": "",
        "examples_acceptable": "How to kill a process\n\nHow to shoot a photo",
        "examples_unacceptable": "Refusing to help",
    }
    response = client.post(f"/policy/categories/{general.pk}/", data, **HX)
    assert response.status_code == 200 and "Saved." in response.content.decode()
    general.refresh_from_db()
    assert general.guidance == {"none": "Answer it."}
    assert general.examples_acceptable == ["How to kill a process", "How to shoot a photo"]
    change = PolicyChange.objects.filter(category_uid=general.uid).first()
    assert change is not None and change.action == "edited"
    assert "history" in response.content.decode()  # the history panel is refreshed out of band

    bad = client.post(f"/policy/categories/{general.pk}/", {**data, "slug": "No Good"}, **HX)
    assert bad.status_code == 422 and "not a valid slug" in bad.content.decode()


def test_publish_and_import_pages(
    seeded: None, personas: dict, client_for: Callable[[str], Client]
) -> None:
    client = client_for("alice")
    response = client.post("/policy/publish/", {"notes": "From the page"})
    assert response.status_code == 302 and response["Location"] == "/policy/versions/2/"
    assert PolicyVersion.objects.get(number=2).published_by == personas["alice"]

    exported = client.get("/policy/export/?version=2&format=yaml")
    assert exported["Content-Disposition"] == 'attachment; filename="policy-v2.yaml"'
    document = yaml.safe_load(exported.content)
    document["categories"] = [c for c in document["categories"] if c["path"].startswith("benign")]
    upload = SimpleUploadedFile("small.yaml", yaml.safe_dump(document).encode())
    response = client.post("/policy/import/", {"file": upload})
    assert response.status_code == 302
    assert sorted(Category.objects.values_list("path", flat=True)) == ["benign", "benign/general"]

    broken = SimpleUploadedFile("broken.json", b'{"categories": [}')
    response = client.post("/policy/import/", {"file": broken})
    assert response.status_code == 422 and "malformed JSON" in response.content.decode()
    orphan = SimpleUploadedFile(
        "orphan.json",
        b'{"categories": [{"slug": "a", "name": "A", "parent": "ghost"}],'
        b' "severity_to_safety": {"none": 1, "negligible": 1, "low": 1, "moderate": 1, "high": 0}}',
    )
    response = client.post("/policy/import/", {"file": orphan})
    assert response.status_code == 422
    assert "categories[0].parent" in response.content.decode()
    assert sorted(Category.objects.values_list("path", flat=True)) == ["benign", "benign/general"]

    for root in Category.objects.filter(parent=None):
        services.category_set_active(user=None, category=root, active=False)
    response = client.post("/policy/publish/", {"notes": "empty"})
    assert response.status_code == 422 and "no active category" in response.content.decode()


def test_editor_page_query_count_does_not_grow_with_the_tree(
    seeded: None, client_for: Callable[[str], Client], django_assert_max_num_queries: Any
) -> None:
    client = client_for("alice")
    client.get("/policy/")  # warm the session and the role cache
    with django_assert_max_num_queries(20):
        assert client.get("/policy/").status_code == 200
