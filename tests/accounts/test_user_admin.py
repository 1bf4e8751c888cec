"""User and role admin: pages and API for admins only, password rules, the self and
last-admin guards, memberships, and the change log."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.models import UserChange
from labeling.models import Campaign
from policy.models import PolicyVersion
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def roles_of(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@pytest.fixture
def campaigns(personas: dict[str, User]) -> list[Campaign]:
    version = PolicyVersion.objects.order_by("-number").first()
    return [
        Campaign.objects.create(name=name, slug=name.lower(), policy_version=version)
        for name in ("Alpha", "Beta")
    ]


@pytest.mark.parametrize("name", ["rita", "victor", "anna", "nobody"])
def test_non_admins_get_403_on_every_user_page_and_endpoint(
    client_for: Callable[[str], Client], personas: dict[str, User], name: str
) -> None:
    client = client_for(name)
    target = personas["anna"].pk
    for url in (
        reverse("accounts:user_list"),
        reverse("accounts:user_create"),
        reverse("accounts:user_detail", args=[target]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("accounts:user_create"), {"username": "x"}).status_code == 403
    assert (
        client.post(reverse("accounts:user_active", args=[target]), {"active": "0"}).status_code
        == 403
    )
    assert client.post(reverse("accounts:user_password", args=[target])).status_code == 403
    assert client.get("/api/v1/users/").status_code == 403
    assert (
        client.post(
            "/api/v1/users/", {"username": "x"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/v1/users/{target}/", {"roles": ["admin"]}, content_type="application/json"
        ).status_code
        == 403
    )
    assert client.post(f"/api/v1/users/{target}/password/").status_code == 403
    assert User.objects.filter(username="x").count() == 0
    assert personas["anna"].groups.filter(name="admin").count() == 0
    assert personas["anna"].is_active


def test_anonymous_is_sent_to_log_in_and_api_answers_401_or_403() -> None:
    client = Client()
    response = client.get(reverse("accounts:user_list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/api/v1/users/").status_code in (401, 403)


def test_list_filters_by_search_role_and_state(
    client_for: Callable[[str], Client], personas: dict[str, User]
) -> None:
    personas["ben"].is_active = False
    personas["ben"].email = "ben@example.org"
    personas["ben"].save()
    client = client_for("alice")

    def listed(**params: str) -> set[str]:
        html = client.get(reverse("accounts:user_list"), params).content.decode()
        table = html.split('id="user-list"', 1)[1]
        return set(re.findall(r'/users/\d+/">([^<]+)</a>', table))

    assert listed() == {"alice", "rita", "victor", "anna", "ben", "nobody"}
    assert listed(q="example.org") == {"ben"}
    assert listed(role="annotator") == {"anna", "ben"}
    assert listed(role="annotator", active="active") == {"anna"}
    assert listed(active="inactive") == {"ben"}
    html = client.get(reverse("accounts:user_list")).content.decode()
    assert "never" in html  # nobody signed in yet: last sign-in shows as never, not None


def test_create_with_generated_password_shows_it_once_and_it_signs_in(
    client_for: Callable[[str], Client], personas: dict[str, User], campaigns: list[Campaign]
) -> None:
    client = client_for("alice")
    response = client.post(
        reverse("accounts:user_create"),
        {
            "username": "carol",
            "email": "carol@example.org",
            "roles": ["annotator", "reviewer"],
            "password_choice": "generate",
            "membership_campaigns": [campaigns[1].pk],
        },
    )
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    password = re.search(r'id="generated-password">([^<]+)<', html).group(1)
    carol = User.objects.get(username="carol")
    assert roles_of(carol) == {"annotator", "reviewer"}
    assert not carol.is_staff
    assert list(carol.campaigns.all()) == [campaigns[1]]
    assert carol.check_password(password)
    assert (
        password
        not in client.get(reverse("accounts:user_detail", args=[carol.pk])).content.decode()
    )
    assert Client().login(username="carol", password=password)
    log = list(UserChange.objects.filter(user=carol).order_by("id"))
    assert [change.action for change in log] == ["created", "memberships"]
    assert log[0].changed_by == personas["alice"]
    assert log[0].changes["roles"] == [None, "annotator, reviewer"]
    assert log[1].changes == {"Campaigns": ["none", "Beta"]}
    assert password not in str([change.changes for change in log])


def test_create_refuses_bad_input_and_changes_nothing(
    client_for: Callable[[str], Client], personas: dict[str, User]
) -> None:
    client = client_for("alice")
    before = User.objects.count()
    response = client.post(
        reverse("accounts:user_create"),
        {
            "username": "dave",
            "roles": ["annotator"],
            "password_choice": "set",
            "password": "12345678",
        },
    )
    assert response.status_code == 422
    assert (
        "This password is too common." in response.content.decode()
        or "entirely numeric" in response.content.decode()
    )
    response = client.post(
        reverse("accounts:user_create"),
        {"username": "ANNA", "roles": ["annotator"], "password_choice": "generate"},
    )
    assert response.status_code == 422
    assert "is taken" in response.content.decode()
    assert User.objects.count() == before
    assert not UserChange.objects.exists()


def test_roles_memberships_and_email_change_are_logged(
    client_for: Callable[[str], Client], personas: dict[str, User], campaigns: list[Campaign]
) -> None:
    client = client_for("alice")
    anna = personas["anna"]
    response = client.post(
        reverse("accounts:user_detail", args=[anna.pk]),
        {
            "email": "anna@example.org",
            "roles": ["annotator", "admin"],
            "membership_campaigns": [campaigns[0].pk, campaigns[1].pk],
        },
    )
    assert response.status_code == 302
    anna.refresh_from_db()
    assert roles_of(anna) == {"annotator", "admin"}
    assert anna.is_staff  # the Django admin follows the admin role
    assert anna.email == "anna@example.org"
    assert set(anna.campaigns.all()) == set(campaigns)
    page = client.get(reverse("accounts:user_detail", args=[anna.pk])).content.decode()
    log = page.split('id="user-changes"', 1)[1]
    assert "Roles changed" in log and "annotator → admin, annotator" in log
    assert "Memberships changed" in log and "none → Alpha, Beta" in log
    assert "alice" in log
    client.post(
        reverse("accounts:user_detail", args=[anna.pk]),
        {"email": "anna@example.org", "roles": ["annotator"]},
    )
    anna.refresh_from_db()
    assert not anna.is_staff
    assert not anna.campaigns.exists()


def test_admin_cannot_remove_own_admin_role_nor_deactivate_self(
    client_for: Callable[[str], Client], personas: dict[str, User]
) -> None:
    client = client_for("alice")
    alice = personas["alice"]
    other_admin = personas["rita"]
    other_admin.groups.add(Group.objects.get(name="admin"))
    response = client.post(
        reverse("accounts:user_detail", args=[alice.pk]), {"roles": ["researcher"]}
    )
    assert response.status_code == 422
    assert "you cannot remove your own admin role" in response.content.decode()
    assert "admin" in roles_of(alice)
    response = client.post(
        reverse("accounts:user_active", args=[alice.pk]), {"active": "0"}, follow=True
    )
    assert "you cannot deactivate yourself" in response.content.decode()
    alice.refresh_from_db()
    assert alice.is_active
    answer = client.patch(
        f"/api/v1/users/{alice.pk}/",
        {"is_active": False, "email": "a@b.org"},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.json() == {"is_active": ["you cannot deactivate yourself"]}
    alice.refresh_from_db()
    assert alice.email == ""  # all or nothing
    assert not UserChange.objects.filter(user=alice).exists()


def test_the_last_active_admin_keeps_the_role(personas: dict[str, User]) -> None:
    from accounts.users.services import UserAdminError, user_set_active, user_update

    rita = personas["rita"]
    rita.groups.add(Group.objects.get(name="admin"))
    alice = personas["alice"]
    user_set_active(by=rita, user=alice, active=False)
    with pytest.raises(UserAdminError, match="rita is the last active admin"):
        user_update(by=alice, user=rita, roles=["researcher"])
    assert "admin" in roles_of(rita)


def test_deactivated_user_cannot_sign_in_and_their_token_stops(
    client_for: Callable[[str], Client], personas: dict[str, User]
) -> None:
    anna = personas["anna"]
    token = Token.objects.create(user=anna)
    anna_session = client_for("anna")
    assert anna_session.get("/work/").status_code == 200
    client = client_for("alice")
    client.post(reverse("accounts:user_active", args=[anna.pk]), {"active": "0"})
    anna.refresh_from_db()
    assert not anna.is_active
    assert not Client().login(username="anna", password=PASSWORD)
    assert anna_session.get("/work/").status_code == 302  # the session ended
    refused = Client().get("/api/v1/judgments/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert refused.status_code in (401, 403)
    assert "inactive" in refused.json()["detail"]
    client.post(reverse("accounts:user_active", args=[anna.pk]), {"active": "1"})
    assert Client().login(username="anna", password=PASSWORD)
    actions = list(
        UserChange.objects.filter(user=anna).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["deactivated", "reactivated"]


def test_password_reset_generated_or_set(
    client_for: Callable[[str], Client], personas: dict[str, User]
) -> None:
    client = client_for("alice")
    anna = personas["anna"]
    response = client.post(reverse("accounts:user_password", args=[anna.pk]), {"password": ""})
    assert response.status_code == 200
    generated = re.search(r'id="generated-password">([^<]+)<', response.content.decode()).group(1)
    anna.refresh_from_db()
    assert anna.check_password(generated)
    response = client.post(reverse("accounts:user_password", args=[anna.pk]), {"password": "anna"})
    assert response.status_code == 422
    assert "too short" in response.content.decode()
    anna.refresh_from_db()
    assert anna.check_password(generated)
    response = client.post(
        reverse("accounts:user_password", args=[anna.pk]), {"password": "a-much-longer-secret-9"}
    )
    assert response.status_code == 302
    anna.refresh_from_db()
    assert anna.check_password("a-much-longer-secret-9")
    changes = UserChange.objects.filter(user=anna, action="password").order_by("id")
    assert [change.changes["password"][1] for change in changes] == ["generated", "set by an admin"]


def test_api_create_update_password_and_changes(
    client_for: Callable[[str], Client], personas: dict[str, User], campaigns: list[Campaign]
) -> None:
    client = client_for("alice")
    answer = client.post(
        "/api/v1/users/",
        {
            "username": "erin",
            "roles": ["researcher"],
            "memberships": {"campaigns": [campaigns[0].pk]},
        },
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["roles"] == ["researcher"]
    assert body["memberships"] == {"campaigns": [{"id": campaigns[0].pk, "name": "Alpha"}]}
    erin = User.objects.get(username="erin")
    assert erin.check_password(body["generated_password"])
    bad = client.post(
        "/api/v1/users/",
        {"username": "frank", "roles": ["wizard"], "password": "short"},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "roles" in bad.json()
    assert not User.objects.filter(username="frank").exists()
    bad = client.post(
        "/api/v1/users/",
        {"username": "frank", "password": "short", "memberships": {"campaigns": [99999]}},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["campaigns"] == ["no such id: 99999"]
    assert bad.json()["password"]
    assert not User.objects.filter(username="frank").exists()
    answer = client.patch(
        f"/api/v1/users/{erin.pk}/",
        {"roles": ["admin"], "is_active": False},
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert answer.json()["roles"] == ["admin"] and answer.json()["is_active"] is False
    answer = client.post(
        f"/api/v1/users/{erin.pk}/password/",
        {"password": "another-fine-secret-2"},
        content_type="application/json",
    )
    assert answer.json() == {"generated_password": None}
    listed = client.get("/api/v1/users/?role=admin&active=inactive").json()
    assert [row["username"] for row in listed["results"]] == ["erin"]
    changes = client.get(f"/api/v1/users/{erin.pk}/changes/").json()["results"]
    assert [row["action"] for row in changes] == [
        "password",
        "deactivated",
        "roles",
        "memberships",
        "created",
    ]
    assert all(row["changed_by"] == "alice" for row in changes)


def test_django_admin_is_usable_by_admins_but_accounts_change_in_the_app(
    client_for: Callable[[str], Client], personas: dict[str, User]
) -> None:
    alice = personas["alice"]
    alice.is_staff = True  # the user pages and create_user set it with the admin role
    alice.save()
    client = client_for("alice")
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "Campaigns" in index.content.decode() and "Judgments" in index.content.decode()
    assert client.get("/admin/labeling/campaign/").status_code == 200
    assert client.get("/admin/labeling/judgment/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/auth/user/add/").status_code == 403
    assert (
        client.get(f"/admin/auth/user/{personas['anna'].pk}/change/").status_code == 200
    )  # view only
    response = client.post(
        f"/admin/auth/user/{personas['anna'].pk}/change/", {"username": "hacked"}
    )
    assert response.status_code == 403
    assert client_for("rita").get("/admin/").status_code == 302  # no staff access: log-in page


def test_403_page_has_the_navigation_and_logs_no_traceback(
    client_for: Callable[[str], Client], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client_for("anna").get(reverse("accounts:user_list"))
    assert response.status_code == 403
    html = response.content.decode()
    assert '<nav class="nav"' in html and "You may not open this page" in html
    assert "My work" in html
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and all(r.exc_info is None for r in records)
    assert "Forbidden (Permission denied): /users/" in records[0].getMessage()


def test_404_page_has_the_navigation(client_for: Callable[[str], Client], settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = False
    response = client_for("anna").get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert '<nav class="nav"' in html and "Page not found" in html and "/no/such/page/" in html
