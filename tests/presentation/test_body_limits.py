"""Request bodies: JSON nested 100,000 deep, or a body over the size limit, is refused with a
reason (400 / 413) before anything changes, on every endpoint that reads a JSON body.

Requests go through the whole stack (middleware included) with the test client; the parser
tests call the API views directly, without the middleware, to show the default parser holds
the same limits on its own.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from exports.api import ExportPreviewApi
from exports.models import Export
from labeling.annotation import services
from labeling.annotation.api import AssignmentSkipApi, JudgmentSubmitApi
from labeling.campaigns.services import campaign_create
from labeling.models import Assignment, Judgment, Skip
from policy.models import PolicyVersion
from policy.seed import ensure_default_policy
from policy.selectors import working_snapshot
from presentation.api_errors import PayloadTooLarge
from presentation.parsers import JSONParser
from tests.conftest import PASSWORD
from tests.labeling.annotation.factories import build_pairs, payload

DEEP = "[" * 100_000
DEEP_REASON = "JSON nested deeper than 64 levels (line 1, column 65)"
SMALL_LIMIT = 4096
TOO_LARGE_REASON = f"The request body is larger than {SMALL_LIMIT} bytes."
TOO_LARGE = json.dumps({"reason": "x" * (SMALL_LIMIT + 100)})

# Every API endpoint named by the hardening issue that reads a JSON body, and who may call it.
ENDPOINTS: dict[str, tuple[str, Callable[[Assignment], str]]] = {
    "judgment submit": ("anna", lambda a: f"/api/v1/assignments/{a.pk}/judgment/"),
    "skip": ("anna", lambda a: f"/api/v1/assignments/{a.pk}/skip/"),
    "export preview": ("rita", lambda a: "/api/v1/exports/preview/"),
    "export create": ("rita", lambda a: "/api/v1/exports/"),
    "policy import": ("alice", lambda a: "/api/v1/policy/import/"),
}
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    """The default depth limit, pinned; throttles and sign-in limits start from zero."""
    settings.JSON_MAX_DEPTH = 64
    cache.clear()


@pytest.fixture
def api_for(personas: dict[str, User]) -> Callable[[str], APIClient]:
    def _client(name: str) -> APIClient:
        token, _ = Token.objects.get_or_create(user=personas[name])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client


@pytest.fixture
def assignment(personas: dict[str, User]) -> Assignment:
    """A live assignment of anna's in an open campaign, with a saved draft."""
    ensure_default_policy()
    campaign = campaign_create(
        name="Limits",
        slug="limits",
        policy_version=PolicyVersion.objects.order_by("-number").first(),
        judgments_per_pair=1,
        open_now=True,
    )
    build_pairs(campaign, 2)
    claim = services.assignment_claim(campaign=campaign, annotator=personas["anna"])
    assert claim.assignment is not None
    services.assignment_draft_save(
        assignment_id=claim.assignment.pk,
        annotator=personas["anna"],
        draft={"rationale": "kept"},
    )
    return claim.assignment


def state(assignment: Assignment) -> dict[str, Any]:
    """Everything the endpoints could change."""
    assignment.refresh_from_db()
    return {
        "judgments": Judgment.objects.count(),
        "skips": Skip.objects.count(),
        "exports": Export.objects.count(),
        "tokens": sorted(Token.objects.values_list("key", flat=True)),
        "assignment": (assignment.completed_at, assignment.draft),
        "policy": working_snapshot(),
    }


def draft_url(assignment: Assignment) -> str:
    return reverse("labeling:annotate_draft", args=(assignment.campaign.slug, assignment.pk))


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_deeply_nested_json_is_refused_with_a_reason(
    endpoint: str, assignment: Assignment, api_for: Callable[[str], APIClient]
) -> None:
    persona, url = ENDPOINTS[endpoint]
    client = api_for(persona)
    before = state(assignment)
    response = client.post(url(assignment), DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": DEEP_REASON}
    assert state(assignment) == before


@pytest.mark.django_db
def test_token_endpoint_refuses_deeply_nested_json(assignment: Assignment) -> None:
    before = state(assignment)
    response = APIClient().post(TOKEN_URL, DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": DEEP_REASON}
    assert state(assignment) == before


@pytest.mark.django_db
def test_token_endpoint_still_answers_json_sign_in(personas: dict[str, User]) -> None:
    response = APIClient().post(
        TOKEN_URL, {"username": "anna", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=personas["anna"]).key


@pytest.mark.django_db
def test_draft_autosave_refuses_deeply_nested_json(
    assignment: Assignment, client_for: Callable[[str], Client]
) -> None:
    before = state(assignment)
    response = client_for("anna").post(draft_url(assignment), DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.content.decode() == DEEP_REASON
    assert state(assignment) == before
    assert before["assignment"][1] == {"rationale": "kept"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("deep.json", DEEP.encode(), DEEP_REASON),
        ("deep.yaml", DEEP.encode(), "YAML nested deeper than 64 levels (line 1, column 65)"),
        (
            "deep.yml",
            "".join("  " * level + "k:\n" for level in range(99)).encode() + b"  " * 99 + b"k: v\n",
            "YAML nested deeper than 64 levels (line 65, column 129)",
        ),
    ],
    ids=["json", "yaml-flow", "yaml-block"],
)
def test_policy_import_file_nested_too_deep_names_the_place(
    name: str,
    content: bytes,
    reason: str,
    assignment: Assignment,
    api_for: Callable[[str], APIClient],
) -> None:
    client = api_for("alice")
    before = state(assignment)
    response = client.post(
        ENDPOINTS["policy import"][1](assignment),
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {"file": [reason]}
    assert state(assignment) == before


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_body_over_the_size_limit_is_refused_with_a_reason(
    endpoint: str, assignment: Assignment, api_for: Callable[[str], APIClient], settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = SMALL_LIMIT
    persona, url = ENDPOINTS[endpoint]
    client = api_for(persona)
    before = state(assignment)
    response = client.post(url(assignment), TOO_LARGE, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": TOO_LARGE_REASON}
    assert state(assignment) == before


@pytest.mark.django_db
def test_token_endpoint_refuses_a_body_over_the_size_limit(
    assignment: Assignment, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = SMALL_LIMIT
    before = state(assignment)
    for body, content_type in [
        (TOO_LARGE, "application/json"),
        (f"username=anna&password={'x' * SMALL_LIMIT}", "application/x-www-form-urlencoded"),
    ]:
        response = APIClient().post(TOKEN_URL, body, content_type=content_type)
        assert response.status_code == 413
        assert response.json() == {"detail": TOO_LARGE_REASON}
    assert state(assignment) == before


@pytest.mark.django_db
def test_draft_autosave_refuses_a_form_over_the_size_limit(
    assignment: Assignment, client_for: Callable[[str], Client], settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = SMALL_LIMIT
    before = state(assignment)
    # htmx posts the autosave form URL-encoded.
    response = client_for("anna").post(
        draft_url(assignment),
        urlencode({"rationale": "y" * SMALL_LIMIT}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response.content.decode() == TOO_LARGE_REASON
    assert state(assignment) == before


@pytest.mark.django_db
def test_policy_import_file_over_the_size_limit(
    assignment: Assignment, api_for: Callable[[str], APIClient], settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = SMALL_LIMIT
    client = api_for("alice")
    before = state(assignment)
    response = client.post(
        ENDPOINTS["policy import"][1](assignment),
        {"file": SimpleUploadedFile("big.json", TOO_LARGE.encode())},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {"file": [f"is larger than {SMALL_LIMIT} bytes"]}
    assert state(assignment) == before


@pytest.mark.django_db
def test_a_valid_judgment_still_goes_through(
    assignment: Assignment, api_for: Callable[[str], APIClient]
) -> None:
    response = api_for("anna").post(
        ENDPOINTS["judgment submit"][1](assignment), payload(), format="json"
    )
    assert response.status_code == 201, response.json()
    assert Judgment.objects.count() == 1


# --- the parser on its own ------------------------------------------------------------------

VIEWS: dict[str, tuple[str, Any, Callable[[Assignment], dict[str, Any]]]] = {
    "judgment submit": ("anna", JudgmentSubmitApi, lambda a: {"assignment_id": a.pk}),
    "skip": ("anna", AssignmentSkipApi, lambda a: {"assignment_id": a.pk}),
    "export preview": ("rita", ExportPreviewApi, lambda a: {}),
}


def test_the_default_parser_is_the_limited_one() -> None:
    assert api_settings.DEFAULT_PARSER_CLASSES[0] is JSONParser


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(VIEWS))
@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [(DEEP, 400, DEEP_REASON), (TOO_LARGE, 413, TOO_LARGE_REASON)],
    ids=["deep", "too-large"],
)
def test_the_parser_alone_refuses_with_a_reason(
    endpoint: str,
    body: str,
    status: int,
    reason: str,
    assignment: Assignment,
    personas: dict[str, User],
    settings: Any,
) -> None:
    if status == 413:
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = SMALL_LIMIT
    persona, view, kwargs = VIEWS[endpoint]
    request = APIRequestFactory().post(
        ENDPOINTS[endpoint][1](assignment), body, content_type="application/json"
    )
    force_authenticate(request, user=personas[persona])
    before = state(assignment)
    response = view.as_view()(request, **kwargs(assignment))
    assert response.status_code == status
    assert response.data == {"detail": reason}
    assert state(assignment) == before


@pytest.mark.django_db
def test_policy_import_page_names_the_place_of_too_deep_nesting(
    assignment: Assignment, client_for: Callable[[str], Client]
) -> None:
    before = state(assignment)
    response = client_for("alice").post(
        reverse("policy:import"), {"file": SimpleUploadedFile("deep.yaml", DEEP.encode())}
    )
    assert response.status_code == 422
    assert "YAML nested deeper than 64 levels (line 1, column 65)" in response.content.decode()
    assert state(assignment) == before


def test_the_parser_bounds_a_stream_handed_to_it(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = SMALL_LIMIT
    parser = JSONParser()
    assert parser.parse(io.BytesIO(b'{"a": [1, 2]}'), parser_context={}) == {"a": [1, 2]}
    with pytest.raises(PayloadTooLarge) as too_large:
        parser.parse(io.BytesIO(TOO_LARGE.encode()), parser_context={})
    assert str(too_large.value.detail) == TOO_LARGE_REASON
    with pytest.raises(ParseError) as too_deep:
        parser.parse(io.BytesIO(DEEP[:1000].encode()), parser_context={})
    assert str(too_deep.value.detail) == DEEP_REASON
