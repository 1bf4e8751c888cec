"""Services of a test's own, on spare ports, that it may kill and start again.

Fault tests never stop the shared PostgreSQL and Redis the rest of the suite uses: they start
their own here. ``OwnRedis`` is a ``redis-server`` child process; ``PrivatePostgres`` is a
throw-away cluster made with ``initdb`` and run with ``pg_ctl`` (as the ``postgres`` account
when the suite runs as root, since initdb refuses root).
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

from config.celery import app

ROOT = Path(__file__).resolve().parent.parent
HAVE_REDIS_SERVER = shutil.which("redis-server") is not None


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A redis-server of the test's own, on its own port, keeping nothing on disk: a restart
    loses every queue, as a Redis without persistence does."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        pytest.fail("own redis-server did not start")

    def stop(self) -> None:
        """SIGKILL: the server dies at once, with everything it held."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def point_celery_at(url: str) -> None:
    """Make this process's app publish to ``url``: forget its connection and producer pools
    (kombu keeps each URL's pool in a registry shared by the process, so none is closed here:
    the shared broker's pool must still work for the tests after this one)."""
    app.conf.broker_url = app.conf.broker_write_url = app.conf.broker_read_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_broker(own_redis: OwnRedis) -> Iterator[OwnRedis]:
    """The test's own Redis, and this process's app publishing to it."""
    shared = app.conf.broker_write_url
    point_celery_at(own_redis.url)
    try:
        yield own_redis
    finally:
        point_celery_at(shared)


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
CAN_RUN_POSTGRES = HAVE_SERVER and not (
    IS_ROOT and (RUN_AS is None or shutil.which("runuser") is None)
)
NO_POSTGRES_REASON = (
    "PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) or, "
    "as root, the postgres account and runuser are not available"
)


class PrivatePostgres:
    """A throw-away PostgreSQL server in its own folder, on its own port and socket."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = spare_port()
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


# Running the app itself (gunicorn, manage.py) against a test's own services.


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


class AppServer:
    """The app in gunicorn (as production runs it) on a spare port, with its log in a file;
    a context manager that stops it (its whole process group) on the way out."""

    def __init__(self, env: dict[str, str], log_path: Path, *options: str) -> None:
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                *(
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                ),
                *("--timeout", "60", "--graceful-timeout", "5", *options),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_until_healthy(self, timeout: float = 60) -> None:
        with httpx.Client(base_url=self.url, timeout=15) as http:
            poll(
                lambda: http.get("/healthz").status_code == 200,
                timeout,
                "the app did not start",
                self.log_path,
            )

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
