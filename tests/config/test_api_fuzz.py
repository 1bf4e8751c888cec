"""The REST API fuzzed against its own OpenAPI schema: whatever comes in, never a 500."""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error


@pytest.fixture
def api_schema(live_server: object) -> schemathesis.BaseSchema:
    """The schema the app serves; the cases are then sent over HTTP to a running server."""
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(response.json())


# Model endpoints are left out: their URLs are outbound targets, and a fuzzer must not make this
# server call addresses it invents (they have their own tests). Starting generation runs is left
# out for the same reason.
schema = (
    schemathesis.pytest.from_fixture("api_schema")
    .exclude(path_regex=r"^/api/v1/endpoints/")
    .exclude(method="POST", path="/api/v1/generation-runs/")
)


@pytest.fixture
def admin_token(personas: dict[str, User]) -> str:
    return Token.objects.create(user=personas["alice"]).key


# Every operation of the schema runs inside this one test (as subtests), so the suite's per-test
# limit is scaled to the operation count: at 15 examples each, about 80 operations.
@pytest.mark.timeout(1200)
@schema.parametrize()
@hypothesis_settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_on_any_input(
    case: schemathesis.Case, admin_token: str, live_server: object
) -> None:
    case.call_and_validate(
        base_url=live_server.url,  # type: ignore[attr-defined]
        headers={"Authorization": f"Token {admin_token}"},
        checks=[not_a_server_error],
        timeout=60,
    )
