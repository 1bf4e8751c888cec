"""A lost database answers 503 (JSON under /api/, a plain page elsewhere) with Retry-After,
whether a view, DRF or a middleware below met the error. tests/config/test_database_outage.py
stops a real PostgreSQL; here the failures are staged in-process (see ``outage_urls``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from presentation.api_errors import api_exception_handler
from presentation.outage import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS

URLS = "tests.presentation.outage_urls"


@pytest.fixture(autouse=True)
def _staged_failures(settings: Any) -> None:
    settings.ROOT_URLCONF = URLS
    # The staged session middleware goes where Django's session middleware sits.
    middleware = list(settings.MIDDLEWARE)
    at = middleware.index("django.contrib.sessions.middleware.SessionMiddleware")
    middleware.insert(at, f"{URLS}.FailingSessionMiddleware")
    settings.MIDDLEWARE = middleware


@pytest.fixture
def client() -> Client:
    """A client that returns the 500 of an uncaught error instead of raising it."""
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("error", [OperationalError("lost"), InterfaceError("closed")])
def test_the_api_handler_answers_503_with_retry_after(error: Exception) -> None:
    response = api_exception_handler(error, {})
    assert response is not None
    assert response.status_code == 503
    assert response.data == {"detail": DATABASE_UNAVAILABLE}
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


@pytest.mark.parametrize(
    "url",
    ["/api/broken/", "/api/plain-broken/", "/api/session-lookup/"],
    ids=["drf-view", "django-view", "middleware"],
)
def test_api_answers_503_json(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": DATABASE_UNAVAILABLE}
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


@pytest.mark.parametrize("url", ["/broken/", "/session-lookup/"], ids=["view", "middleware"])
def test_pages_answer_a_plain_503_page(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 503
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    page = response.content.decode()
    assert "Service unavailable" in page and DATABASE_UNAVAILABLE in page
    assert "Traceback" not in page and "OperationalError" not in page


def test_other_errors_stay_server_errors(client: Client) -> None:
    assert client.get("/crash/").status_code == 500
    assert client.get("/fine/").status_code == 200
