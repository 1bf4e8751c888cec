"""Shared fixtures: named personas, a real Celery worker, the offline model server.

Personas (as in healthchecks' tests): ``alice`` the admin, ``rita`` the researcher,
``victor`` the reviewer, ``anna`` and ``ben`` annotators, ``nobody`` signed in with no role.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
PASSWORD = "correct-horse-battery-staple"

# Fixtures of services a test owns and may kill: own_redis, private_postgres.
pytest_plugins = ["tests.own_services"]


def ensure_reference_data() -> None:
    """Recreate what the data migrations seed: the role groups and policy version 1.

    Transactional tests flush every table when they finish, migrations' data included.
    """
    from policy.seed import ensure_default_policy

    for role in ("annotator", "reviewer", "researcher", "admin"):
        Group.objects.get_or_create(name=role)
    ensure_default_policy()


@pytest.fixture(autouse=True)
def _reference_data(request: pytest.FixtureRequest) -> None:
    """Tests on a flushed (transactional) database get the seeded reference data back."""
    names = set(request.fixturenames)
    if names & {"transactional_db", "live_server"}:
        request.getfixturevalue("transactional_db")
        ensure_reference_data()


@pytest.fixture(autouse=True)
def _import_problems_dir(tmp_path_factory: pytest.TempPathFactory, settings: Any) -> None:
    """Failed imports store their full problem list; tests keep those files out of ``var/``."""
    settings.IMPORT_PROBLEMS_DIR = tmp_path_factory.mktemp("import-problems")


@pytest.fixture(autouse=True)
def _import_uploads_dir(tmp_path_factory: pytest.TempPathFactory, settings: Any) -> None:
    """Import jobs store their uploads; tests keep those files out of ``var/``."""
    settings.IMPORT_UPLOADS_DIR = tmp_path_factory.mktemp("import-uploads")


def make_user(username: str, *roles: str) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if roles:
        user.groups.set(Group.objects.filter(name__in=roles))
    return user


@pytest.fixture
def personas(db: None) -> dict[str, User]:
    return {
        "alice": make_user("alice", "admin"),
        "rita": make_user("rita", "researcher"),
        "victor": make_user("victor", "reviewer"),
        "anna": make_user("anna", "annotator"),
        "ben": make_user("ben", "annotator"),
        "nobody": make_user("nobody"),
    }


@pytest.fixture
def client_for(personas: dict[str, User]) -> Callable[[str], Client]:
    """A Django test client signed in as the named persona."""

    def _client(name: str) -> Client:
        client = Client()
        client.force_login(personas[name])
        return client

    return _client


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the public data folder is missing: {SHARED_DATA}")
    return SHARED_DATA


def _purge_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as connection:
        for queue in ("default", "generation", "grading", "exports"):
            # A queue that was never declared has nothing to purge.
            with contextlib.suppress(Exception):
                connection.default_channel.queue_purge(queue)


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[Any]:
    """A real Celery worker, in this process, consuming every queue from the real broker.

    Its job sweep is off: a sweep thread in the test's own process would act on the test's rows
    at moments the test does not choose. The sweep is tested with worker processes
    (:func:`worker_process`), as it runs in production."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    _purge_broker()
    with (
        override_settings(GRAYLAB_SWEEP_SECONDS=0),
        start_worker(
            app,
            pool="threads",
            concurrency=4,
            queues=["default", "generation", "grading", "exports"],
            perform_ping_check=False,
            shutdown_timeout=30,
        ) as worker,
    ):
        yield worker


def test_database_url() -> str:
    """The URL of the test database, for worker subprocesses."""
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """A Celery worker in its own process, so a test can kill it with SIGKILL."""

    def __init__(
        self,
        queues: str = "default,generation,grading,exports",
        concurrency: int = 4,
        env: dict[str, str] | None = None,
    ) -> None:
        """``env`` adds to (or overrides) the environment: another broker, a shorter sweep."""
        environment = dict(os.environ)
        environment["DATABASE_URL"] = test_database_url()
        environment["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        environment.update(env or {})
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "WARNING",
                "-Q",
                queues,
                "--pool",
                "threads",
                "--concurrency",
                str(concurrency),
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"test-{time.monotonic_ns()}@%h",
            ],
            cwd=ROOT,
            env=environment,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, leaving unacknowledged work behind."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_process(transactional_db: None) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker subprocesses against the test database; all are stopped afterwards."""
    _purge_broker()
    started: list[WorkerProcess] = []

    def _start(**kwargs: Any) -> WorkerProcess:
        worker = WorkerProcess(**kwargs)
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 30, interval: float = 0.1) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")
