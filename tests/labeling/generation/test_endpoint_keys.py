"""Endpoint keys: only allowed variables may hold them, and no error ever shows one.

The calls go through the real ``openai`` client to a small HTTP server in this file that
refuses every call and echoes the ``Authorization`` header back, as careless servers do.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from labeling.generation import endpoints, executor, runs
from labeling.generation.client import EXCERPT_LIMIT, CallError
from labeling.generation.styles import BUILT_IN
from labeling.imports.prompts import prompt_import
from labeling.models import Campaign, GenerationTask, ModelEndpoint
from tests.conftest import ROOT
from tests.labeling.conftest import jsonl_bytes

KEY_VARIABLE = "GRAYLAB_ENDPOINT_ECHO_KEY"
PRODUCTION_DEFAULT = ["OPENAI_*", "GRAYLAB_ENDPOINT_*"]
RULE = "OPENAI_*, GRAYLAB_ENDPOINT_*"


def _echo_everything(authorization: str) -> tuple[int, str, str]:
    message = f"Incorrect API key provided: {authorization}. Find your key in your account."
    body = {"error": {"message": message, "type": "invalid_request_error"}}
    return 401, "application/json", json.dumps(body)


def _echo_a_prefix(authorization: str) -> tuple[int, str, str]:
    key = authorization.removeprefix("Bearer ")
    body = {"error": {"message": f"Incorrect API key provided: {key[:14]}****{key[-4:]}."}}
    return 401, "application/json", json.dumps(body)


def _shout_in_plain_text(authorization: str) -> tuple[int, str, str]:
    return 403, "text/plain", f"FORBIDDEN FOR {authorization.upper()}"


def _html_page(authorization: str) -> tuple[int, str, str]:
    page = (
        "<html><head><script>alert('x')</script></head><body>"
        "<h1>Upstream \x1b[31mfailure\x1b[0m\u202e</h1>"
        f"<p>Your request carried {authorization}</p>" + "<p>padding</p>" * 400 + "</body></html>"
    )
    return 500, "text/html", page


ANSWERS: dict[str, Callable[[str], tuple[int, str, str]]] = {
    "echo": _echo_everything,
    "prefix": _echo_a_prefix,
    "shout": _shout_in_plain_text,
    "html": _html_page,
}


class EchoServer(ThreadingHTTPServer):
    """Refuses every request; ``answer`` picks how (see ``ANSWERS``); ``seen`` keeps the
    ``Authorization`` header of every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.answer = "echo"
        self.seen: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _EchoHandler(BaseHTTPRequestHandler):
    server: EchoServer

    def do_GET(self) -> None:
        self._refuse()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._refuse()

    def _refuse(self) -> None:
        authorization = self.headers.get("Authorization", "")
        self.server.seen.append(authorization)
        status, content_type, text = ANSWERS[self.server.answer](authorization)
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "sk-test-" + secrets.token_urlsafe(30)
    monkeypatch.setenv(KEY_VARIABLE, value)
    return value


def assert_no_part_of(key: str, text: str) -> None:
    """Not the key, nor any run of six of its characters in any case."""
    folded = text.lower()
    for start in range(len(key) - 5):
        assert key[start : start + 6].lower() not in folded, (key[start : start + 6], text)


# The allow-list


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "HOME"])
def test_only_allowed_variables_may_hold_a_key(db: None, settings: Any, name: str) -> None:
    settings.ENDPOINT_API_KEY_ENV_ALLOWED = PRODUCTION_DEFAULT
    with pytest.raises(ValidationError) as refused:
        endpoints.endpoint_create(
            name="x", base_url="http://127.0.0.1:1/v1", model="m", api_key_env=name
        )
    (reason,) = refused.value.message_dict["api_key_env"]
    assert RULE in reason and "ENDPOINT_API_KEY_ENV_ALLOWED" in reason
    endpoint = endpoints.endpoint_create(name="ok", base_url="http://127.0.0.1:1/v1", model="m")
    with pytest.raises(ValidationError):
        endpoints.endpoint_update(endpoint=endpoint, api_key_env=name)
    for allowed in ("OPENAI_API_KEY", "GRAYLAB_ENDPOINT_MAIN", ""):
        endpoints.endpoint_update(endpoint=endpoint, api_key_env=allowed)
        endpoint.refresh_from_db()
        assert endpoint.api_key_env == allowed


def test_graylab_secrets_are_refused_whatever_the_setting(db: None, settings: Any) -> None:
    settings.ENDPOINT_API_KEY_ENV_ALLOWED = ["S*", "D*", "C*"]
    for name in ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"):
        with pytest.raises(ValidationError):
            endpoints.endpoint_create(
                name=name, base_url="http://127.0.0.1:1/v1", model="m", api_key_env=name
            )
    endpoints.endpoint_create(
        name="some", base_url="http://127.0.0.1:1/v1", model="m", api_key_env="SOME_KEY"
    )


def test_the_api_and_the_form_name_the_pattern(
    client_for: Callable[[str], Client], settings: Any
) -> None:
    settings.ENDPOINT_API_KEY_ENV_ALLOWED = PRODUCTION_DEFAULT
    admin = client_for("alice")
    response = admin.post(
        "/api/v1/endpoints/",
        {
            "name": "x",
            "base_url": "http://127.0.0.1:1/v1",
            "model": "m",
            "api_key_env": "SECRET_KEY",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["api_key_env"] and RULE in body["api_key_env"][0]
    page = admin.post(
        reverse("labeling:endpoint_create"),
        {
            "name": "x",
            "base_url": "http://127.0.0.1:1/v1",
            "model": "m",
            "api_key_env": "DATABASE_URL",
            "timeout_seconds": 10,
            "concurrency_limit": 2,
        },
    )
    assert page.status_code == 200
    assert page.context["form"].errors["api_key_env"] == [body["api_key_env"][0]]
    assert not ModelEndpoint.objects.exists()


def test_a_stored_row_naming_another_variable_sends_nothing(
    db: None, echo_server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAYLAB_PRIVATE_VALUE", "private-value-0123456789")
    # As a row saved before the allow-list, or through the ORM, could.
    endpoint = ModelEndpoint.objects.create(
        name="old", base_url=echo_server.base_url, model="m", api_key_env="GRAYLAB_PRIVATE_VALUE"
    )
    with pytest.raises(CallError) as failed:
        endpoints.endpoint_test(endpoint=endpoint)
    assert failed.value.kind == "client_error" and "not allowed" in failed.value.detail
    assert "private-value" not in failed.value.detail
    assert echo_server.seen == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ENDPOINT_API_KEY_ENV_ALLOWED", "*"), ("ENDPOINT_API_KEY_ENV_ALLOWED", "OPENAI_*,sk-1")],
)
def test_a_bad_allow_list_stops_start_up(variable: str, value: str) -> None:
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


def test_the_default_allows_the_variable_openai_api_key_env_names() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ENDPOINT_API_KEY_ENV_ALLOWED"}
    env.update(OPENAI_API_KEY_ENV="PROVIDER_KEY", DJANGO_SETTINGS_MODULE="config.settings")
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(','.join(settings.ENDPOINT_API_KEY_ENV_ALLOWED))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["OPENAI_*,GRAYLAB_ENDPOINT_*,PROVIDER_KEY"]


# What an error keeps of the answer


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_test_connection_never_shows_the_key(
    db: None, echo_server: EchoServer, key: str, answer: str
) -> None:
    echo_server.answer = answer
    endpoint = endpoints.endpoint_create(
        name="echo", base_url=echo_server.base_url, model="m", api_key_env=KEY_VARIABLE
    )
    with pytest.raises(CallError) as failed:
        endpoints.endpoint_test(endpoint=endpoint)
    assert echo_server.seen == [f"Bearer {key}"]  # the server did get the key, and echoed it
    detail = failed.value.detail
    status = {"echo": 401, "prefix": 401, "shout": 403, "html": 500}[answer]
    assert detail.startswith(f"HTTP {status}: ")
    assert len(detail) <= len(f"HTTP {status}: ") + EXCERPT_LIMIT
    assert_no_part_of(key, detail)
    assert not any(char in detail for char in "<>\x1b\u202e\n")
    if answer in ("echo", "prefix"):
        assert "Incorrect API key provided: [redacted]" in detail


def test_test_connection_page_and_api_show_a_summary(
    client_for: Callable[[str], Client], echo_server: EchoServer, key: str
) -> None:
    endpoint = endpoints.endpoint_create(
        name="echo", base_url=echo_server.base_url, model="m", api_key_env=KEY_VARIABLE
    )
    admin = client_for("alice")
    page = admin.post(reverse("labeling:endpoint_test", args=[endpoint.pk]))
    api = admin.post(f"/api/v1/endpoints/{endpoint.pk}/test/")
    assert api.status_code == 502
    assert api.json()["error"].startswith("client_error: HTTP 401: Incorrect API key provided")
    for body in (page.content.decode(), api.content.decode()):
        assert "HTTP 401" in body
        assert key not in body and key[:12] not in body


def test_stored_errors_and_the_run_page_never_show_the_key(
    transactional_db: None,
    campaign: Campaign,
    client_for: Callable[[str], Client],
    echo_server: EchoServer,
    key: str,
) -> None:
    rows = [
        {"prompt": f"Question {i}", "category": "benign/general", "intent": "benign"}
        for i in range(2)
    ]
    prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    endpoint = endpoints.endpoint_create(
        name="echo", base_url=echo_server.base_url, model="m", api_key_env=KEY_VARIABLE
    )
    run = runs.run_create(
        campaign=campaign, endpoints=[endpoint], styles=[BUILT_IN["refusal-style"]]
    )
    assert runs.run_plan(run_id=run.pk) == 2
    planned = list(GenerationTask.objects.filter(run=run).values_list("pk", flat=True))
    # No worker: the batch runs here, its calls over HTTP through the openai client.
    assert executor.planned_batch_execute(planned_ids=planned)["failed"] == 2
    assert echo_server.seen and all(seen == f"Bearer {key}" for seen in echo_server.seen)
    for error in GenerationTask.objects.filter(run=run).values_list("error", flat=True):
        assert error.startswith("HTTP 401: Incorrect API key provided: [redacted]")
        assert_no_part_of(key, error)
    for who in ("alice", "rita"):
        page = client_for(who).get(reverse("labeling:run_detail", args=[run.pk]))
        assert page.status_code == 200
        body = page.content.decode()
        assert key not in body and key[:12] not in body
    assert (
        "HTTP 401"
        in client_for("alice").get(reverse("labeling:run_detail", args=[run.pk])).content.decode()
    )
