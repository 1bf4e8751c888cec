"""A real database outage: stop PostgreSQL under a running app, then start it again.

The test starts its own PostgreSQL server on a spare port (the shared one is never touched),
migrates it, runs the app in gunicorn against it with production settings (DEBUG off), and
checks that while the server is down the API answers 503 JSON ``{"detail": …}`` with
Retry-After, pages answer a plain 503 page, ``/healthz`` answers 503 naming the database, and
that the same app process answers 200 again once PostgreSQL is back.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

BIN_DIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
BIN = Path(BIN_DIRS[-1]) if BIN_DIRS else None
HAVE_SERVER = BIN is not None and (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()
IS_ROOT = os.geteuid() == 0


def _postgres_account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


# initdb refuses to run as root: as root the server runs as the ``postgres`` account.
RUN_AS = _postgres_account() if IS_ROOT else None
pytestmark = pytest.mark.skipif(
    not HAVE_SERVER or (IS_ROOT and (RUN_AS is None or shutil.which("runuser") is None)),
    reason="PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) or, "
    "as root, the postgres account and runuser are not available",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """A throw-away PostgreSQL server in its own folder, on its own port and socket."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if IS_ROOT else []
        assert BIN is not None
        result = subprocess.run(
            [*prefix, str(BIN / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
        )
        assert result.returncode == 0, f"{command[0]} failed: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
            *("--locale=C", "--no-sync", "--no-instructions"),
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="graylab-outage-"))
    if RUN_AS is not None:
        os.chown(folder, RUN_AS.pw_uid, RUN_AS.pw_gid)
    server = PrivatePostgres(folder)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            with contextlib.suppress(Exception):
                server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def app_environment(database_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "SECRET_KEY": "outage-test-" + secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9",
            "GRAYLAB_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


PASSWORD_ENV = "OUTAGE_TEST_PASSWORD"


def manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def poll(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    """Wait for ``check``; fail naming ``what`` with the end of the app's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    pytest.fail(f"{what} within {timeout} s\n{tail}")


@pytest.mark.timeout(420)
def test_api_answers_503_during_a_database_outage_and_recovers(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = app_environment(private_postgres.url, tmp_path / "data")
    password = "outage-" + secrets.token_urlsafe(16)
    env[PASSWORD_ENV] = password
    manage(env, "migrate", "--noinput")
    manage(env, "create_user", "outage-anna", "--role", "annotator", "--password-env", PASSWORD_ENV)

    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    log = log_path.open("wb")
    app = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"),
            *("--workers", "1", "--timeout", "60", "--graceful-timeout", "5"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as http:
            healthy = lambda: http.get("/healthz").status_code == 200  # noqa: E731
            poll(healthy, 60, "the app did not start", log_path)
            signed_in = http.post(
                "/api/v1/auth/token/", json={"username": "outage-anna", "password": password}
            )
            assert signed_in.status_code == 200, signed_in.text
            auth = {"Authorization": f"Token {signed_in.json()['token']}"}
            api = "/api/v1/policy/versions/"
            assert http.get(api, headers=auth).status_code == 200

            private_postgres.stop()

            down = http.get(api, headers=auth)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/json"
            assert down.json()["detail"]
            assert int(down.headers["retry-after"]) > 0

            sign_in = http.post(
                "/api/v1/auth/token/", json={"username": "outage-anna", "password": password}
            )
            assert sign_in.status_code == 503, sign_in.text
            assert set(sign_in.json()) == {"detail"}

            # A session cookie makes the middleware look the session up before any view runs.
            page = http.get("/", headers={"Cookie": "sessionid=" + "x" * 32})
            assert page.status_code == 503, page.text
            assert page.headers["content-type"].startswith("text/html")
            assert "Service unavailable" in page.text and "Traceback" not in page.text
            assert "retry-after" in page.headers

            health = http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["status"] == "unavailable"
            assert health.json()["database"] != "ok"
            assert health.json()["broker"] == "ok"

            private_postgres.start()

            recovered = lambda: http.get(api, headers=auth).status_code == 200  # noqa: E731
            poll(recovered, 30, "the API did not recover", log_path)
            assert http.get("/healthz").status_code == 200
            assert app.poll() is None, "the app restarted or died"
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGTERM)
            try:
                app.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(app.pid, signal.SIGKILL)
                app.wait(timeout=10)
        log.close()
