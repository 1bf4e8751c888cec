"""``manage.py export``: the same job from the command line."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_command_writes_the_export(hand: dict[str, Any], tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "export",
        "--campaign",
        "hand",
        "--format",
        "trl-preference",
        "--out",
        str(tmp_path / "out"),
        "--preference-source",
        "reward",
        "--split",
        "1,0,0",
        "--min-margin",
        "0.4",
        stdout=out,
    )
    folders = list((tmp_path / "out").iterdir())
    assert len(folders) == 1
    manifest = orjson.loads((folders[0] / "manifest.json").read_bytes())
    assert manifest["preference_source"] == "reward"
    assert manifest["min_margin"] == 0.4
    assert manifest["counts"]["left_out"]["under_margin"] == 1
    assert (folders[0] / "data/biology/high-risk-dual-use/train.jsonl").exists()
    assert "rows from 6 pairs" in out.getvalue()


def test_command_fails_with_the_reason(hand: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="unknown campaign: nope"):
        call_command("export", "--campaign", "nope", "--format", "reward", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="split_ratios"):
        call_command(
            "export",
            "--campaign",
            "hand",
            "--format",
            "reward",
            "--out",
            str(tmp_path),
            "--split",
            "0.5,0.1,0.1",
        )
    assert list(tmp_path.iterdir()) == []


def test_command_exit_code_on_failure(hand: dict[str, Any], tmp_path: Path) -> None:
    import subprocess
    import sys

    from django.conf import settings

    from ..conftest import ROOT, test_database_url

    # A subprocess sees the committed data only; an unknown campaign is enough to fail.
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "export",
            "--campaign",
            "nope",
            "--format",
            "reward",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **__import__("os").environ,
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        },
        check=False,
    )
    assert result.returncode != 0
    assert "unknown campaign: nope" in result.stderr


def test_seed_demo_export_is_idempotent(personas: dict[str, Any]) -> None:
    from exports.demo import DEMO_CAMPAIGN, seed_demo_export
    from exports.models import Export
    from labeling.models import Campaign

    from .conftest import make_policy

    assert seed_demo_export() is None  # no demo campaign yet
    Campaign.objects.create(name="Demo", slug=DEMO_CAMPAIGN, policy_version=make_policy())
    first = seed_demo_export()
    second = seed_demo_export()
    assert first is not None and second is not None and first.pk == second.pk
    assert Export.objects.count() == 1
    assert first.format == "trl-preference" and first.status == "queued"
