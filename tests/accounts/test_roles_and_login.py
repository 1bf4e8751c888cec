"""Roles: each persona sees only its navigation; anonymous users are sent to log in."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.navigation import navigation_entries

EXPECTED_NAV = {
    "alice": {
        "Campaigns",
        "Review",
        "Dashboards",
        "Data browser",
        "Graders",
        "Exports",
        "Model endpoints",
        "Policy",
        "Rubric",
        "API",
        "Users",
    },
    "rita": {
        "Campaigns",
        "Resolved reviews",
        "Dashboards",
        "Data browser",
        "Graders",
        "Exports",
        "Rubric",
        "API",
    },
    "victor": {"My work", "Review", "Dashboards", "Data browser", "Rubric"},
    "anna": {"My work", "Rubric"},
    "nobody": set(),
}


def nav_labels(html: str) -> set[str]:
    nav = re.search(r'<nav class="nav"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no navigation bar"
    return set(re.findall(r">([^<>]+)</a>", nav.group(1)))


def test_roles_exist_from_the_data_migration(db: None) -> None:
    names = set(Group.objects.values_list("name", flat=True))
    assert {"annotator", "reviewer", "researcher", "admin"} <= names


def test_navigation_table_matches_the_expected_matrix() -> None:
    labels = {entry.label for entry in navigation_entries()}
    assert labels == set().union(*EXPECTED_NAV.values())


@pytest.mark.parametrize("persona", sorted(EXPECTED_NAV))
def test_each_persona_sees_only_its_navigation(
    client_for: Callable[[str], Client], persona: str
) -> None:
    response = client_for(persona).get("/accounts/login/", follow=True)
    html = response.content.decode()
    assert nav_labels(html) == EXPECTED_NAV[persona]


@pytest.mark.parametrize(
    "path", ["/", "/policy/", "/campaigns/", "/work/", "/exports/", "/review/"]
)
def test_anonymous_is_sent_to_log_in(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_anonymous_api_gets_401_or_403(db: None) -> None:
    response = Client().get("/api/v1/policy/categories/")
    assert response.status_code in {401, 403}


def test_log_in_and_out(personas: dict[str, User]) -> None:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "anna", "password": "correct-horse-battery-staple"}
    )
    assert response.status_code == 302
    assert client.get("/work/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/work/").status_code == 302


def test_wrong_password_is_refused_and_throttled(personas: dict[str, User]) -> None:
    client = Client(REMOTE_ADDR="10.9.8.7")
    statuses = [
        client.post("/accounts/login/", {"username": "anna", "password": "wrong"}).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]


def test_pages_carry_csrf_for_htmx_and_a_strict_csp(client_for: Callable[[str], Client]) -> None:
    response = client_for("anna").get("/work/")
    html = response.content.decode()
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[^\"]+\"\}'", html)
    assert "vendor/htmx/htmx.min.js" in html
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_create_user_command_with_password_env(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_PASSWORD", "a-long-enough-password-123")
    out = io.StringIO()
    call_command(
        "create_user", "carol", "--role", "researcher", "--password-env", "NEW_PASSWORD", stdout=out
    )
    carol = User.objects.get(username="carol")
    assert carol.check_password("a-long-enough-password-123")
    assert list(carol.groups.values_list("name", flat=True)) == ["researcher"]
    assert "Created user carol" in out.getvalue()


def test_create_user_rejects_a_weak_password_and_unknown_role(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEAK", "123")
    with pytest.raises(CommandError, match="password"):
        call_command("create_user", "dave", "--role", "annotator", "--password-env", "WEAK")
    with pytest.raises(CommandError):
        call_command("create_user", "dave", "--role", "overlord", "--password-env", "WEAK")
    assert not User.objects.filter(username="dave").exists()


def test_api_schema_and_docs_served_without_cdn(client_for: Callable[[str], Client]) -> None:
    client = client_for("rita")
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_openapi_schema_is_valid_and_warning_free(db: None) -> None:
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "openapi: 3" in out.getvalue()
    assert "/api/v1/campaigns/{slug}/claim/" in out.getvalue()
