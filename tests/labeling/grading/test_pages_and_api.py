"""Grader pages and API: roles, create, edit into versions, previews, errors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.grading.services import grader_create
from labeling.grading.templates import DEFAULT_CANDIDATE_TEMPLATE, DEFAULT_PAIR_TEMPLATE
from labeling.models import Candidate, Grade, Grader, GraderVersion, Pair
from policy.models import PolicyVersion
from tests.labeling.grading.conftest import add_grade


def _form(grader_version, **changes):
    data = {
        "name": "page-judge",
        "description": "From the page.",
        "endpoint": grader_version.endpoint.pk,
        "model": "",
        "policy_version": grader_version.policy_version.pk,
        "temperature": "0",
        "samples": "1",
        "max_tokens": "256",
        "seed": "0",
        "candidate_template": DEFAULT_CANDIDATE_TEMPLATE,
        "pair_template": DEFAULT_PAIR_TEMPLATE,
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("who", "code"),
    [("rita", 200), ("alice", 200), ("anna", 403), ("victor", 403), ("nobody", 403)],
)
def test_grader_pages_and_api_roles(grader_version, client_for, who, code) -> None:
    client = client_for(who)
    pages = [
        reverse("labeling:grader_list"),
        reverse("labeling:grader_create"),
        reverse("labeling:grader_detail", args=["safety-judge"]),
        reverse("labeling:grader_preview", args=["safety-judge"]),
    ]
    for url in pages:
        assert client.get(url).status_code == code, url
    for url in [
        "/api/v1/graders/",
        "/api/v1/graders/safety-judge/",
        "/api/v1/graders/safety-judge/versions/",
    ]:
        assert client.get(url).status_code == code, url
    if code == 403:
        assert client.post("/api/v1/graders/", {}).status_code == 403
        preview = client.post(
            "/api/v1/graders/safety-judge/preview/", {"candidate": 1}, "application/json"
        )
        assert preview.status_code == 403
        assert client.post(reverse("labeling:grader_create"), {}).status_code == 403


def test_create_and_edit_on_the_pages(grader_version, campaign_with_pairs, client_for) -> None:
    rita = client_for("rita")
    response = rita.post(reverse("labeling:grader_create"), _form(grader_version))
    assert response.status_code == 302
    version = GraderVersion.objects.get(grader__name="page-judge")
    assert (version.number, version.model, version.max_tokens) == (1, "graylab-offline", 256)

    # Graded nothing yet: saved in place.
    detail = reverse("labeling:grader_detail", args=["page-judge"])
    response = rita.post(detail, _form(grader_version, temperature="0.4"), follow=True)
    assert b"Version 1 saved." in response.content
    assert GraderVersion.objects.filter(grader__name="page-judge").count() == 1

    # With a grade it is frozen: the edit makes version 2, shown in the history.
    add_grade(version, Candidate.objects.first())
    response = rita.post(detail, _form(grader_version, seed="3"), follow=True)
    assert b"Saved as version 2: version 1 has graded items" in response.content
    numbers = [v.number for v in response.context["versions"]]
    assert numbers == [2, 1]
    assert GraderVersion.objects.get(grader__name="page-judge", number=1).seed == 0


def test_a_bad_template_on_the_page_is_refused_and_nothing_stored(
    grader_version, client_for
) -> None:
    response = client_for("rita").post(
        reverse("labeling:grader_create"),
        _form(grader_version, candidate_template="Judge {response} of {user}"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["candidate_template"]
    assert errors[0].startswith("Unknown placeholder {user};")
    assert errors[1] == "The template must contain {conversation}."
    assert not Grader.objects.filter(name="page-judge").exists()


def test_the_preview_page_offers_a_campaigns_items_and_shows_a_preview(
    grader_version, campaign_with_pairs, client_for, offline_server
) -> None:
    # The grader stand-in never errs at a grader error rate of 0: its grade is the rules' grade.
    offline_server.configure(latency_ms=5, seed=7, grader_error_rate=0.0)
    rita = client_for("rita")
    url = reverse("labeling:grader_preview", args=["safety-judge"])
    page = rita.get(url, {"campaign": campaign_with_pairs.slug})
    assert page.status_code == 200
    assert len(page.context["candidates"]) == 10 and len(page.context["pairs"]) == 10
    candidate = Candidate.objects.get(prompt__external_id="p1", source="model-a")
    run = reverse("labeling:grader_preview_run", args=["safety-judge"])
    response = rita.post(
        run, {"kind": "candidate", "item_id": candidate.pk}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="preview-result"')
    assert "Filled prompt" in body and "&lt;response&gt;" in body
    assert body.count("Raw answer") == 3
    assert 'class="settings parsed-grade"' in body and "Not a grade:" not in body
    # The candidate says "I can't help with that.": refusal wording.
    assert "<dt>Response mode</dt><dd>Hard refusal</dd>" in body
    assert "<dt>Severity</dt><dd>None</dd>" in body
    pair = Pair.objects.first()
    response = rita.post(run, {"kind": "pair", "item_id": pair.pk})
    assert response.status_code == 200
    assert response.content.decode().count('class="card preview-order"') == 2
    assert not Grade.objects.exists()


def test_api_create_update_versions_and_errors(
    grader_version, campaign_with_pairs, client_for
) -> None:
    rita = client_for("rita")
    created = rita.post(
        "/api/v1/graders/",
        {"name": "api-judge", "endpoint": "offline", "samples": 2},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    current = created.json()["current_version"]
    assert (current["number"], current["samples"], current["endpoint"]) == (1, 2, "offline")
    assert current["candidate_template"] == DEFAULT_CANDIDATE_TEMPLATE

    bad = rita.post(
        "/api/v1/graders/",
        {"name": "bad", "endpoint": "offline", "pair_template": "{response_1} {response_2}"},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json() == {"pair_template": ["The template must contain {conversation}."]}
    unknown = rita.post(
        "/api/v1/graders/", {"name": "bad", "endpoint": "elsewhere"}, "application/json"
    )
    assert unknown.json() == {"endpoint": ["No endpoint is named 'elsewhere'."]}
    duplicate = rita.post(
        "/api/v1/graders/", {"name": "api-judge", "endpoint": "offline"}, "application/json"
    )
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    assert not Grader.objects.filter(name="bad").exists()

    in_place = rita.patch(
        "/api/v1/graders/api-judge/", {"temperature": 0.5}, content_type="application/json"
    )
    assert in_place.json()["is_new_version"] is False
    add_grade(GraderVersion.objects.get(grader__name="api-judge"), Candidate.objects.first())
    new = rita.patch(
        "/api/v1/graders/api-judge/", {"seed": 42}, content_type="application/json"
    ).json()
    assert new["is_new_version"] is True
    assert (new["current_version"]["number"], new["current_version"]["seed"]) == (2, 42)
    versions = rita.get("/api/v1/graders/api-judge/versions/").json()
    assert [(v["number"], v["grade_count"]) for v in versions] == [(2, 0), (1, 1)]


def test_api_preview(grader_version, campaign_with_pairs, client_for, offline_server) -> None:
    offline_server.configure(latency_ms=5, seed=7, grader_error_rate=0.0)
    rita = client_for("rita")
    pair = Pair.objects.first()
    answer = rita.post(
        "/api/v1/graders/safety-judge/preview/", {"pair": pair.pk}, "application/json"
    )
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert (data["kind"], data["item_id"], data["version"]) == ("pair", pair.pk, 1)
    assert [order["order"] for order in data["orders"]] == ["ab", "ba"]
    for order in data["orders"]:
        assert "<conversation>" in order["prompt"]
        assert len(order["samples"]) == 3 and all(s["raw"] for s in order["samples"])
        assert order["grade"] is not None
        assert not any(sample["error"] for sample in order["samples"])
    neither = rita.post("/api/v1/graders/safety-judge/preview/", {}, "application/json")
    assert neither.status_code == 400
    assert neither.json() == {"candidate": ["Give exactly one of candidate and pair."]}
    missing = rita.post(
        "/api/v1/graders/safety-judge/preview/", {"candidate": 999_999}, "application/json"
    )
    assert missing.status_code == 404
    assert not Grade.objects.exists()


def test_preview_of_an_item_whose_category_the_policy_lacks_says_so(
    grader_version, campaign_with_pairs, client_for
) -> None:
    snapshot = grader_version.policy_version.snapshot
    narrow = PolicyVersion.objects.create(
        number=PolicyVersion.objects.order_by("-number").first().number + 1,
        notes="no chemistry",
        snapshot={
            **snapshot,
            "categories": [
                entry
                for entry in snapshot["categories"]
                if not entry["path"].startswith("chemistry")
            ],
        },
    )
    rita = client_for("rita")
    answer = rita.patch(
        "/api/v1/graders/safety-judge/",
        {"policy_version": narrow.number},
        content_type="application/json",
    )
    assert answer.json()["current_version"]["policy_version"] == narrow.number
    candidate = Candidate.objects.get(prompt__external_id="p3", source="model-a")
    expected = (
        f"candidate {candidate.pk}: category 'chemistry/dual-use' is not in policy version "
        f"{narrow.number}, the version this grader applies."
    )
    api = rita.post(
        "/api/v1/graders/safety-judge/preview/", {"candidate": candidate.pk}, "application/json"
    )
    assert (api.status_code, api.json()) == (400, {"item": [expected]})
    page = rita.post(
        reverse("labeling:grader_preview_run", args=["safety-judge"]),
        {"kind": "candidate", "item_id": candidate.pk},
    )
    assert page.status_code == 400
    assert expected.replace("'", "&#x27;") in page.content.decode()


def test_grader_lists_query_counts(
    grader_version, campaign_with_pairs, client_for, django_assert_num_queries
) -> None:
    for index in range(5):
        grader_create(
            name=f"judge-{index}",
            endpoint=grader_version.endpoint,
            policy_version=grader_version.policy_version,
        )
    add_grade(grader_version, Candidate.objects.first())
    rita = client_for("rita")
    # Expect 4 queries for the page: the session, the user, the user's roles, the graders
    # with their version counts.
    with django_assert_num_queries(4):
        page = rita.get(reverse("labeling:grader_list"))
    assert page.status_code == 200 and len(page.context["graders"]) == 6
    # Expect 5 for the API: the session, the user, the user's roles, the graders, and their
    # versions with grade counts.
    with django_assert_num_queries(5):
        listing = rita.get("/api/v1/graders/").json()
    judge = next(grader for grader in listing if grader["name"] == "safety-judge")
    assert judge["current_version"]["grade_count"] == 1
