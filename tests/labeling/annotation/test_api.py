"""The REST API: claim, judgment (idempotent, canonical order, 400 per field), skip, list."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import Assignment, Judgment, Pair

from .conftest import build_pairs, pairs_locked_elsewhere, payload


@pytest.fixture
def api_for(personas):
    def _client(name):
        token, _ = Token.objects.get_or_create(user=personas[name])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client


def claim(client, campaign):
    return client.post(f"/api/v1/campaigns/{campaign.slug}/claim/")


def test_annotate_one_pair_through_the_api(campaign_with_pairs, api_for):
    client = api_for("anna")
    response = claim(client, campaign_with_pairs)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"assignment", "pair", "prompt", "left", "right", "expires_at"}
    assert body["prompt"][0]["role"] == "user"
    pair = Pair.objects.get(pk=body["pair"])
    assert {body["left"]["candidate"], body["right"]["candidate"]} == {
        pair.candidate_a_id,
        pair.candidate_b_id,
    }
    # The same pair again while the lease lives.
    assert claim(client, campaign_with_pairs).json()["assignment"] == body["assignment"]

    judgment_body = payload(
        left=("hard_refusal", "none", 1), right=("safe_completion", "none", 3), preference=1
    )
    url = f"/api/v1/assignments/{body['assignment']}/judgment/"
    created = client.post(url, judgment_body, format="json")
    assert created.status_code == 201, created.json()
    judgment = created.json()
    left_letter = "a" if judgment["shown"]["left_is_a"] else "b"
    right_letter = "b" if left_letter == "a" else "a"
    assert judgment[left_letter]["candidate"] == body["left"]["candidate"]
    assert judgment[left_letter]["response_mode"] == "hard_refusal"
    assert judgment[right_letter]["helpfulness"] == 3
    # Canonical: positive means B better. Shown +1 (right better) → +1 iff right is B.
    assert judgment["preference"] == (1 if right_letter == "b" else -1)
    assert judgment["shown"]["preference"] == 1

    again = client.post(url, judgment_body, format="json")
    assert again.status_code == 200 and again.json()["id"] == judgment["id"]
    assert Judgment.objects.count() == 1

    next_claim = claim(client, campaign_with_pairs).json()
    assert next_claim["pair"] != body["pair"]


def test_invalid_judgment_names_each_bad_field(campaign_with_pairs, api_for):
    client = api_for("anna")
    assignment = claim(client, campaign_with_pairs).json()["assignment"]
    body = payload(preference=7)
    body["left"]["severity"] = "apocalyptic"
    body["right"]["helpfulness"] = 0
    body["flags"] = ["nope"]
    response = client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "severity" in errors["left"] and "helpfulness" in errors["right"]
    assert "preference" in errors and "flags" in errors
    assert Judgment.objects.count() == 0
    for garbage in ("[]", '"text"', "{not json"):
        response = client.post(
            f"/api/v1/assignments/{assignment}/judgment/", garbage, content_type="application/json"
        )
        assert response.status_code == 400


def test_skip_and_list_only_my_judgments(campaign_with_pairs, api_for):
    anna, ben = api_for("anna"), api_for("ben")
    first = claim(anna, campaign_with_pairs).json()
    skip = anna.post(
        f"/api/v1/assignments/{first['assignment']}/skip/",
        {"reason": "outside my expertise", "flags": ["needs_expert"]},
        format="json",
    )
    assert skip.status_code == 200 and skip.json()["flags"] == ["needs_expert"]
    assert (
        anna.post(f"/api/v1/assignments/{first['assignment']}/skip/", {"reason": "x"}).status_code
        == 404
    )
    for client in (anna, ben):
        assignment = claim(client, campaign_with_pairs).json()["assignment"]
        response = client.post(
            f"/api/v1/assignments/{assignment}/judgment/",
            payload(rationale="ok"),
            format="json",
        )
        assert response.status_code == 201
    listed = anna.get(f"/api/v1/judgments/?campaign={campaign_with_pairs.slug}").json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == Judgment.objects.get(annotator__username="anna").pk
    assert anna.get("/api/v1/judgments/?campaign=other").json()["count"] == 0


def test_someone_elses_assignment_is_404(campaign_with_pairs, api_for):
    assignment = claim(api_for("anna"), campaign_with_pairs).json()["assignment"]
    ben = api_for("ben")
    assert (
        ben.post(
            f"/api/v1/assignments/{assignment}/judgment/", payload(), format="json"
        ).status_code
        == 404
    )
    assert ben.post(f"/api/v1/assignments/{assignment}/skip/", {"reason": "x"}).status_code == 404


def test_no_work_is_204(campaign, api_for):
    assert claim(api_for("anna"), campaign).status_code == 204


def test_api_roles(campaign_with_pairs, api_for):
    assert claim(api_for("rita"), campaign_with_pairs).status_code == 403
    assert claim(api_for("nobody"), campaign_with_pairs).status_code == 403
    assert claim(api_for("victor"), campaign_with_pairs).status_code == 200
    assert claim(api_for("alice"), campaign_with_pairs).status_code == 200
    assert APIClient().post(f"/api/v1/campaigns/{campaign_with_pairs.slug}/claim/").status_code in (
        401,
        403,
    )
    assert api_for("rita").get("/api/v1/judgments/").status_code == 403


def test_api_claim_and_submit_queries_do_not_grow(campaign, api_for, personas):
    build_pairs(campaign, 5)

    def round_trip(name):
        client = api_for(name)
        with CaptureQueriesContext(connection) as claim_queries:
            assignment = claim(client, campaign).json()["assignment"]
        with CaptureQueriesContext(connection) as submit_queries:
            response = client.post(
                f"/api/v1/assignments/{assignment}/judgment/", payload(rationale="r"), format="json"
            )
        assert response.status_code == 201
        return len(claim_queries), len(submit_queries)

    small = round_trip("anna")
    build_pairs(campaign, 150)
    assert round_trip("ben") == small


def test_schema_documents_the_annotation_endpoints(client_for):
    response = client_for("rita").get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/v1/campaigns/{slug}/claim/",
        "/api/v1/assignments/{assignment_id}/judgment/",
        "/api/v1/assignments/{assignment_id}/skip/",
        "/api/v1/judgments/",
    ):
        assert path in text


def test_hostile_values_answer_400_not_500(campaign_with_pairs, api_for):
    client = api_for("anna")
    assignment = claim(client, campaign_with_pairs).json()["assignment"]
    body = payload(rationale="nul\x00byte")
    body["left"]["helpfulness"] = 1e308
    body["flags"] = [{"a": 1}]
    body["time_on_task_ms"] = "soon"
    response = client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"left", "rationale", "flags"}
    skip = client.post(
        f"/api/v1/assignments/{assignment}/skip/", {"reason": "a\x00b"}, format="json"
    )
    assert skip.status_code == 400
    assert client.get("/api/v1/judgments/?campaign=x%00y").status_code == 200
    huge = client.post("/api/v1/assignments/99999999999999999999/judgment/", body, format="json")
    assert huge.status_code == 404


def test_api_claim_is_post_only(campaign_with_pairs, api_for):
    client = api_for("anna")
    url = f"/api/v1/campaigns/{campaign_with_pairs.slug}/claim/"
    assert client.get(url).status_code == 405
    assert client.head(url).status_code == 405
    client.options(url)  # describes the endpoint, takes nothing
    assert not Assignment.objects.exists()
    assert claim(client, campaign_with_pairs).status_code == 200
    assert Assignment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_api_claim_while_every_pair_left_stays_locked_is_503_not_204(campaign, api_for):
    """Work remains but other sessions hold it locked for longer than the claim's patience:
    "try again" (503 with Retry-After), never "no work left" (204)."""
    pairs = build_pairs(campaign, 2)
    client = api_for("anna")
    with pairs_locked_elsewhere([pair.pk for pair in pairs]):
        response = claim(client, campaign)
        assert response.status_code == 503, response.content
        assert response["Retry-After"] == "1" and "try again" in response.json()["detail"]
        assert not Assignment.objects.exists()
    assert claim(client, campaign).status_code == 200
