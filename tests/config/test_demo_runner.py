"""The demo runner: SIGTERM and Ctrl-C stop the web server, the worker and the model server;
and what it serves is the app as its users get it (its own error pages, collected static files,
a sign-in that works over plain HTTP).

The tests run ``manage.py demo --no-seed`` on the embedded default (a SQLite file of their own,
the filesystem broker) on spare ports and wait until it serves. The first signals it and checks
that every process of its group is gone and both ports are free, so a second demo starts cleanly.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from tests.own_services import ROOT, manage, spare_port


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def _demo_serving(env: dict[str, str], web_port: int, log_path: Path) -> Iterator[subprocess.Popen]:
    """``manage.py demo --no-seed`` in its own process group, once it answers ``/healthz``;
    afterwards its group is stopped (SIGTERM, then SIGKILL) if the test left it running."""
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--no-seed", "--port", str(web_port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=2).status_code:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            else:
                pytest.fail("the demo did not serve:\n" + log_path.read_text()[-3000:])
            yield demo
        finally:
            if _group_alive(demo.pid):
                demo.send_signal(signal.SIGTERM)
                with suppress(subprocess.TimeoutExpired):
                    demo.wait(timeout=60)
            if _group_alive(demo.pid):
                os.killpg(demo.pid, signal.SIGKILL)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_all_three_processes(tmp_path: Path, stop_signal: signal.Signals) -> None:
    web_port, model_port = spare_port(), spare_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
            "OFFLINE_MODEL_SERVER_PORT": str(model_port),
            "LOG_LEVEL": "WARNING",
        }
    )
    manage(env, "migrate", "--noinput")
    log_path = tmp_path / "demo.log"
    with _demo_serving(env, web_port, log_path) as demo:
        assert not _port_free(model_port)

        demo.send_signal(stop_signal)
        demo.wait(timeout=60)
        deadline = time.monotonic() + 20
        while _group_alive(demo.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(demo.pid), "a process of the demo is still running"
        assert _port_free(web_port) and _port_free(model_port)
        assert "Stopping" in log_path.read_text()


@pytest.mark.timeout(240)
def test_the_demo_serves_the_apps_own_pages_as_its_users_get_them(tmp_path: Path) -> None:
    """An unknown address answers the app's 404 page (with the navigation), not Django's debug
    page; a refused one the 403 page; static files are the collected ones; signing in works
    over the demo's plain HTTP."""
    web_port, model_port = spare_port(), spare_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY")
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
            "GRAYLAB_DATA_DIR": str(tmp_path / "data"),
            "OFFLINE_MODEL_SERVER_PORT": str(model_port),
            "LOG_LEVEL": "WARNING",
            "DEMO_TEST_PASSWORD": "demo-runner-pass-9731",
        }
    )
    manage(env, "migrate", "--noinput")
    manage(
        env, "create_user", "rita", "--role", "researcher", "--password-env", "DEMO_TEST_PASSWORD"
    )
    log_path = tmp_path / "demo.log"
    base = f"http://127.0.0.1:{web_port}"
    with _demo_serving(env, web_port, log_path), httpx.Client(base_url=base, timeout=30) as client:
        form = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, form.text[:2000]
        signed_in = client.post(
            "/accounts/login/",
            data={
                "username": "rita",
                "password": "demo-runner-pass-9731",
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:2000]

        missing = client.get("/no-such-page/")
        assert missing.status_code == 404
        assert "Page not found" in missing.text and "/no-such-page/" in missing.text
        assert '<nav class="nav"' in missing.text and "Campaigns" in missing.text
        assert "Django tried these URL patterns" not in missing.text
        assert "DEBUG = True" not in missing.text

        refused = client.get("/users/")
        assert refused.status_code == 403
        assert "You may not open this page" in refused.text
        assert '<nav class="nav"' in refused.text

        # The page links the collected, hashed stylesheet, and it is served.
        stylesheet = re.search(r'href="(/static/css/graylab\.[0-9a-f]{12}\.css)"', missing.text)
        assert stylesheet, missing.text[:2000]
        css = client.get(stylesheet.group(1))
        assert css.status_code == 200 and "--bg" in css.text
