"""Settings come from the environment; a malformed value stops start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHECK = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def start(
    env_overrides: dict[str, str], *, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DEBUG", "maybe", "Not a valid boolean"),
        ("DATABASE_URL", "mysql://localhost/x", "scheme must be one of"),
        ("DATABASE_URL", "postgres://:99999999/x", "DATABASE_URL"),
        ("CELERY_BROKER_URL", "kafka://localhost", "scheme must be one of"),
        ("CELERY_BROKER_URL", "redis://localhost:notaport/0", "Port"),
        ("OPENAI_BASE_URL", "ftp://models.example", "scheme must be one of"),
        ("OPENAI_TIMEOUT_SECONDS", "soon", "Not a valid number"),
        ("OPENAI_TIMEOUT_SECONDS", "-1", "must be positive"),
        ("OFFLINE_MODEL_SERVER_PORT", "70000", "between 1 and 65535"),
        ("ALLOWED_HOSTS", "", "ALLOWED_HOSTS"),
        ("LOG_LEVEL", "LOUD", "unknown level"),
        ("OPENAI_API_KEY_ENV", "not a name", "name of an environment variable"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(
    variable: str, value: str, reason: str
) -> None:
    result = start({variable: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert variable in last_line
    assert reason.lower() in last_line.lower()


def test_production_needs_a_long_secret_key() -> None:
    result = start({"DEBUG": "false", "SECRET_KEY": "short", "ALLOWED_HOSTS": "example.org"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_production_without_secret_key_refuses_to_start() -> None:
    result = start({"DEBUG": "false", "ALLOWED_HOSTS": "example.org"}, unset=("SECRET_KEY",))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_nothing_set_is_the_embedded_default() -> None:
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, bool(s.SECRET_KEY))"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.sqlite3",
        "filesystem://",
        "True",
    ]


def test_production_settings_pass_check_deploy() -> None:
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 20 + "-production-secret-key-for-the-deploy-check-" + "y" * 10,
            "ALLOWED_HOSTS": "graylab.example.org",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_collectstatic_under_production_settings(tmp_path: object) -> None:
    """The image's build step: hashed, compressed static files, every reference resolvable."""
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "build-time-only-key-for-collectstatic-never-used-to-sign-anything",
            "ALLOWED_HOSTS": "localhost",
            "GRAYLAB_DATA_DIR": str(tmp_path),
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "post-processed" in result.stdout
