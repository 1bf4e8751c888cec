"""The request limits come from the environment and are checked at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.config.test_settings import start
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("REQUEST_BODY_MAX_BYTES", "lots", "Not a valid integer"),
        ("REQUEST_BODY_MAX_BYTES", "100", "at least 1024"),
        ("JSON_MAX_DEPTH", "0", "between 1 and 200"),
        ("JSON_MAX_DEPTH", "5000", "between 1 and 200"),
    ],
)
def test_bad_limit_stops_start_up_naming_the_variable(
    variable: str, value: str, reason: str
) -> None:
    result = start({variable: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert variable in last_line and reason.lower() in last_line.lower()


def test_limits_reach_django_and_the_parser() -> None:
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATA_UPLOAD_MAX_MEMORY_SIZE, s.JSON_MAX_DEPTH, "
        "s.REST_FRAMEWORK['DEFAULT_PARSER_CLASSES'][0])"
    )
    env = dict(os.environ, REQUEST_BODY_MAX_BYTES="2048", JSON_MAX_DEPTH="7")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2048", "7", "presentation.parsers.JSONParser"]
