"""/healthz up and down, and a task round trip through a real worker on the real broker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.test import Client, override_settings

from config.celery import app, ping
from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthz_up(db: None) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_broker_down(db: None) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with override_settings(CELERY_BROKER_URL=closed):
        response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"] != "ok"


def test_healthz_database_down_in_a_real_server() -> None:
    """A server whose database is unreachable answers 503 naming the database."""
    port = free_port()
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{free_port()}/graylab"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
                pytest.fail("healthz answered 200 with the database down")
            except urllib.error.HTTPError as error:
                assert error.code == 503
                body = json.loads(error.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert body["status"] == "unavailable"
        assert body["database"] != "ok"
        assert body["broker"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_healthz_needs_no_login_and_is_not_cached(db: None) -> None:
    response = Client().get("/healthz")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_task_round_trip_through_a_real_worker(celery_worker: object) -> None:
    assert app.conf.task_always_eager is False
    result = ping.delay("round trip")
    assert result.get(timeout=30) == "round trip"


@pytest.mark.parametrize("queue", ["default", "generation", "grading", "exports"])
def test_worker_consumes_every_queue(celery_worker: object, queue: str) -> None:
    result = ping.apply_async(args=[queue], queue=queue)
    assert result.get(timeout=30) == queue


def test_favicon_ico_leads_to_the_icon_for_pages_that_name_none(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith(".svg")
    assert client.get(response["Location"]).status_code == 200
