"""The demo runner: SIGTERM and Ctrl-C stop the web server, the worker and the model server.

The test runs ``manage.py demo --no-seed`` on the embedded default (a SQLite file of its own,
the filesystem broker) on spare ports, waits until it serves, signals it, and checks that
every process of its group is gone and both ports are free, so a second demo starts cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=2).status_code:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            else:
                pytest.fail("the demo did not serve:\n" + log_path.read_text()[-3000:])
            assert not _port_free(model_port)

            demo.send_signal(stop_signal)
            demo.wait(timeout=60)
            deadline = time.monotonic() + 20
            while _group_alive(demo.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not _group_alive(demo.pid), "a process of the demo is still running"
            assert _port_free(web_port) and _port_free(model_port)
            assert "Stopping" in log_path.read_text()
        finally:
            if _group_alive(demo.pid):
                os.killpg(demo.pid, signal.SIGKILL)
