"""Sign-in limits: one count in the database, per account and per client address, shared by
the log-in page, the admin log-in and the API token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client, RequestFactory

from accounts.addresses import client_address
from accounts.models import SignInAttempt
from tests.conftest import PASSWORD, ROOT, make_user
from tests.conftest import test_database_url as worker_database_url

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
TOKEN = "/api/v1/auth/token/"


def attempt(way: str, username: str, password: str, address: str, **headers: str) -> HttpResponse:
    """One sign-in through ``way``, from ``address``, by a client with nothing remembered.

    The cache is emptied first: a count kept in a process's memory would start again here,
    as it does in every other web process.
    """
    cache.clear()
    client = Client(REMOTE_ADDR=address, **headers)
    return client.post(way, {"username": username, "password": password})


def assert_throttled(response: HttpResponse, way: str) -> int:
    assert response.status_code == 429, (way, response.status_code)
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    expected = f"Too many sign-in attempts. Try again in {wait} second"
    if way == TOKEN:
        assert response.json()["detail"].startswith(expected)
    else:
        assert expected in response.content.decode()
    return wait


@pytest.fixture
def anna(db: None) -> User:
    return make_user("anna", "annotator")


@pytest.fixture
def ben(db: None) -> User:
    return make_user("ben", "annotator")


def test_the_three_ways_in_share_one_count(anna: User, monkeypatch: pytest.MonkeyPatch) -> None:
    address = "10.20.30.40"
    ways = [LOGIN] * 4 + [ADMIN_LOGIN] * 3 + [TOKEN] * 3
    statuses = [attempt(way, "anna", "wrong", address).status_code for way in ways]
    assert statuses == [200] * 7 + [400] * 3
    assert SignInAttempt.objects.filter(key="address:10.20.30.40").count() == 10

    checked: list[str] = []
    check_password = User.check_password

    def counting_check(user: User, raw_password: str) -> bool:
        checked.append(user.username)
        return check_password(user, raw_password)

    monkeypatch.setattr(User, "check_password", counting_check)
    make_user("carol")
    assert attempt(LOGIN, "carol", PASSWORD, "10.99.0.1").status_code == 302
    assert checked == ["carol"]
    for way in (LOGIN, ADMIN_LOGIN, TOKEN):
        # Even the right password is refused, and never compared: the limit comes first.
        assert_throttled(attempt(way, "anna", PASSWORD, address), way)
    assert checked == ["carol"]
    # A refused attempt adds nothing, so waiting out the window is enough.
    assert SignInAttempt.objects.filter(key="address:10.20.30.40").count() == 10


def test_the_page_shows_how_long_to_wait(anna: User) -> None:
    for _ in range(10):
        attempt(LOGIN, "anna", "wrong", "10.0.0.5")
    response = attempt(LOGIN, "anna", "wrong", "10.0.0.5")
    wait = assert_throttled(response, LOGIN)
    html = response.content.decode()
    assert 'role="alert"' in html and f"Try again in {wait} second" in html
    assert 'value="anna"' in html  # the typed name stays; the password is not echoed


def test_the_address_limit_counts_every_account(anna: User, ben: User) -> None:
    for number in range(10):
        assert attempt(LOGIN, f"guess{number}", "wrong", "10.0.0.7").status_code == 200
    assert_throttled(attempt(TOKEN, "ben", PASSWORD, "10.0.0.7"), TOKEN)
    assert attempt(TOKEN, "ben", PASSWORD, "10.0.0.8").status_code == 200


def test_the_account_limit_holds_across_addresses(anna: User, ben: User) -> None:
    for number in range(10):
        assert attempt(LOGIN, "anna", "wrong", f"10.1.0.{number}").status_code == 200
    # A fresh address, the right password: still the account's limit.
    assert_throttled(attempt(LOGIN, "anna", PASSWORD, "10.1.0.99"), LOGIN)
    assert_throttled(attempt(TOKEN, "Anna", PASSWORD, "10.1.0.98"), TOKEN)
    # Other accounts from those addresses are not affected.
    assert attempt(LOGIN, "ben", PASSWORD, "10.1.0.99").status_code == 302


def test_the_right_password_works_once_the_window_has_passed(anna: User, settings: Any) -> None:
    settings.SIGN_IN_ATTEMPTS_PER_WINDOW = 3
    settings.SIGN_IN_WINDOW_SECONDS = 2
    for _ in range(3):
        attempt(LOGIN, "anna", "wrong", "10.2.0.1")
    response = attempt(LOGIN, "anna", PASSWORD, "10.2.0.1")
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert wait in (1, 2)
    time.sleep(wait + 0.05)  # as long as the answer said, no more
    assert attempt(LOGIN, "anna", PASSWORD, "10.2.0.1").status_code == 302
    assert attempt(TOKEN, "anna", PASSWORD, "10.2.0.1").json()["token"]


def test_a_success_does_not_clear_the_count_of_others(anna: User, ben: User) -> None:
    address = "10.3.0.1"
    for _ in range(9):
        assert attempt(LOGIN, "anna", "wrong", address).status_code == 200
    # Ben signs in from the same address: his attempt stops counting, anna's stay.
    assert attempt(LOGIN, "ben", PASSWORD, address).status_code == 302
    assert attempt(ADMIN_LOGIN, "anna", "wrong", address).status_code == 200  # the 10th
    assert_throttled(attempt(LOGIN, "ben", PASSWORD, address), LOGIN)
    assert SignInAttempt.objects.filter(key="account:ben").count() == 0


def wrong_passwords_from_another_process(address: str, count: int) -> list[int]:
    """Wrong passwords posted by a separate Python process (its own memory and cache, as
    another web process has) against the test database; the status of each answer."""
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        f"for _ in range({count}):\n"
        f"    response = Client(REMOTE_ADDR={address!r}).post("
        f"{LOGIN!r}, {{'username': 'anna', 'password': 'wrong'}})\n"
        "    print(response.status_code)\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [int(line) for line in result.stdout.split()]


def test_the_count_is_shared_between_processes(transactional_db: None) -> None:
    make_user("anna", "annotator")
    for _ in range(5):
        assert attempt(LOGIN, "anna", "wrong", "10.4.0.1").status_code == 200
    # Another process sees the five failures made here, adds five, then is refused.
    assert wrong_passwords_from_another_process("10.4.0.1", 6) == [200] * 5 + [429]
    assert_throttled(attempt(TOKEN, "anna", PASSWORD, "10.4.0.1"), TOKEN)


@pytest.fixture
def proxy(settings: Any) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1


def address_of(remote: str, forwarded: str | None = None) -> str:
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(RequestFactory().post("/", REMOTE_ADDR=remote, **headers))


def test_the_forwarded_header_is_never_read_unless_configured() -> None:
    assert address_of("192.0.2.1", "203.0.113.9") == "192.0.2.1"


def test_a_trusted_proxy_header_gives_the_address_that_many_hops_from_the_right(
    proxy: None, settings: Any
) -> None:
    assert address_of("192.0.2.1", "203.0.113.9") == "203.0.113.9"
    # What the client wrote itself, left of the proxy's entry, is ignored.
    assert address_of("192.0.2.1", "198.51.100.1, 203.0.113.9") == "203.0.113.9"
    assert address_of("192.0.2.1") == "192.0.2.1"
    assert address_of("192.0.2.1", "not-an-address") == "192.0.2.1"
    settings.TRUSTED_PROXY_COUNT = 2
    assert address_of("192.0.2.1", "198.51.100.1, 203.0.113.9, 192.0.2.7") == "203.0.113.9"
    assert address_of("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # fewer hops than proxies


def test_ipv6_clients_count_as_their_64() -> None:
    assert address_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_of("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_of("::ffff:192.0.2.5") == "192.0.2.5"


def test_behind_a_proxy_each_client_has_its_own_count(anna: User, proxy: None) -> None:
    behind = {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    for number in range(10):
        assert attempt(LOGIN, f"guess{number}", "wrong", "192.0.2.1", **behind).status_code == 200
    spoofed = {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.9"}
    assert_throttled(attempt(LOGIN, "nobody", "wrong", "192.0.2.1", **spoofed), LOGIN)
    other = {"HTTP_X_FORWARDED_FOR": "203.0.113.10"}
    assert attempt(LOGIN, "anna", PASSWORD, "192.0.2.1", **other).status_code == 302


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("SIGN_IN_ATTEMPTS_PER_WINDOW", "0", "at least 1"),
        ("SIGN_IN_WINDOW_SECONDS", "soon", "Not a valid integer"),
        ("TRUSTED_PROXY_HEADER", "X Forwarded For", "header name"),
        ("TRUSTED_PROXY_COUNT", "0", "at least 1"),
    ],
)
def test_bad_sign_in_settings_stop_start_up(variable: str, value: str, reason: str) -> None:
    env = {**os.environ, variable: value, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and variable in last_line
    assert reason.lower() in last_line.lower()


def test_a_wrong_password_is_checked_once(anna: User, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    check_password = User.check_password

    def counting_check(user: User, raw_password: str) -> bool:
        checked.append(user.username)
        return check_password(user, raw_password)

    monkeypatch.setattr(User, "check_password", counting_check)
    # Django's ModelBackend, listed second for older sessions, never checks it again.
    assert attempt(TOKEN, "anna", "wrong", "10.5.0.1").status_code == 400
    assert checked == ["anna"]


def test_sessions_signed_in_through_the_plain_model_backend_stay_valid(anna: User) -> None:
    client = Client()
    client.force_login(anna, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/work/").status_code == 200
