"""The API's one error shape: ``{"field": ["reason"]}`` for bad input, ``{"detail": "…"}``
for everything else, whichever layer raised the error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.test import Client
from rest_framework import exceptions

from presentation.api_errors import Conflict, api_exception_handler


class _PolicyLikeError(Exception):
    """A domain error that names its fields, as ``policy``'s errors do."""

    def as_dict(self) -> dict[str, list[str]]:
        return {"parent": ["unknown parent 'x'"]}


def _answer(error: Exception) -> tuple[int, Any]:
    response = api_exception_handler(error, {})
    assert response is not None
    return response.status_code, response.data


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            DjangoValidationError({"slug": ["taken"], "name": "too long"}),
            400,
            {"slug": ["taken"], "name": ["too long"]},
        ),
        (DjangoValidationError(["closed", "for good"]), 400, {"detail": "closed for good"}),
        (_PolicyLikeError(), 400, {"parent": ["unknown parent 'x'"]}),
        (exceptions.ValidationError(["bare message"]), 400, {"detail": "bare message"}),
        (
            exceptions.ValidationError({"left": {"severity": ["required"]}}),
            400,
            {"left": {"severity": ["required"]}},
        ),
        (Http404("gone"), 404, {"detail": "gone"}),
        (PermissionDenied(), 403, {"detail": "You do not have permission to perform this action."}),
        (Conflict("in use"), 409, {"detail": "in use"}),
    ],
    ids=["django-fields", "django-bare", "field-errors", "drf-bare", "nested", "404", "403", "409"],
)
def test_every_error_answers_in_the_one_shape(error: Exception, status: int, body: Any) -> None:
    answer_status, answer_body = _answer(error)
    assert answer_status == status
    assert answer_body == body


def test_an_unexpected_error_stays_a_server_error() -> None:
    assert api_exception_handler(RuntimeError("boom"), {}) is None


def _is_one_shape(body: Any) -> bool:
    if set(body) == {"detail"}:
        return isinstance(body["detail"], str)
    return all(isinstance(reasons, list | dict) for reasons in body.values())


@pytest.mark.django_db
def test_endpoints_answer_errors_in_the_one_shape(client_for: Callable[[str], Client]) -> None:
    rita = client_for("rita")
    created = rita.post(
        "/api/v1/campaigns/", {"name": "Shape", "slug": "shape"}, content_type="application/json"
    )
    assert created.status_code == 201
    answers = {
        "duplicate slug (service)": rita.post(
            "/api/v1/campaigns/",
            {"name": "Shape again", "slug": "shape"},
            content_type="application/json",
        ),
        "bad status (serializer)": rita.post(
            "/api/v1/campaigns/shape/status/", {"status": "sideways"}, "application/json"
        ),
        "unknown campaign": rita.get("/api/v1/campaigns/no-such-campaign/"),
        "no role": client_for("anna").get("/api/v1/campaigns/"),
        "anonymous": Client().get("/api/v1/campaigns/"),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "duplicate slug (service)": 400,
        "bad status (serializer)": 400,
        "unknown campaign": 404,
        "no role": 403,
        "anonymous": 403,
    }
    for name, response in answers.items():
        assert _is_one_shape(response.json()), (name, response.json())
    assert list(answers["duplicate slug (service)"].json()) == ["slug"]
    assert list(answers["bad status (serializer)"].json()) == ["status"]
