"""The demo campaign seeds idempotently and generates; the benchmarks run in their small size."""

from __future__ import annotations

import pytest

from labeling.demo import seed_demo_campaign
from labeling.grading.calibration import grader_calibration
from labeling.grading.demo import seed_demo_grading
from labeling.models import Candidate, GenerationRun, GradingRun, Pair, Prompt
from tests.conftest import test_database_url as worker_database_url
from tests.conftest import wait_until

pytestmark = pytest.mark.worker


def test_seed_demo_campaign(policy_version, celery_worker, offline_server, settings):
    settings.OPENAI_BASE_URL = offline_server.base_url
    campaign = seed_demo_campaign()
    seed_demo_campaign()
    assert Prompt.objects.filter(campaign=campaign).count() == 450
    run = GenerationRun.objects.get(campaign=campaign)

    def done():
        run.refresh_from_db()
        return run.status == "completed"

    wait_until(done, timeout=90)
    assert run.succeeded == 80
    assert Candidate.objects.filter(prompt__campaign=campaign, run=run).count() == 80
    # 40 prompts with gpt4 + two styles = 3 candidates and 3 pairs each.
    assert Pair.objects.filter(prompt__campaign=campaign).count() == 40 * 3

    # The demo grader grades every candidate and every pair in both orders, once.
    grading = seed_demo_grading(campaign)
    assert seed_demo_grading(campaign) == grading
    wait_until(
        lambda: GradingRun.objects.get(pk=grading.pk).status not in ("queued", "running"),
        timeout=180,
        interval=0.5,
    )
    grading.refresh_from_db()
    candidates = Candidate.objects.filter(prompt__campaign=campaign).count()
    assert grading.status == "completed", grading.error
    assert grading.planned == grading.graded == candidates + 2 * 40 * 3
    # XSTest's own labels are the humans the stand-in is measured against.
    figures = grader_calibration(version=grading.grader_version, campaign=campaign, reps=0)
    assert figures["response_mode"]["items"] == 450
    assert figures["response_mode"]["alpha"] is not None


def test_bench_small(transactional_db, policy_version, monkeypatch, capsys):
    import bench.__main__
    import bench.generate

    monkeypatch.setenv("DATABASE_URL", worker_database_url())
    import importlib

    bench_import = importlib.import_module("bench.import")
    assert bench_import.main(["--small", "--rows", "300"]) == 0
    assert (
        bench.generate.main(
            ["--small", "--prompts", "16", "--concurrency", "4", "--latency-ms", "50"]
        )
        == 0
    )
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("SUMMARY")]
    assert any("import" in line for line in lines) and any("generate" in line for line in lines)


def test_grade_bench_small(transactional_db, policy_version, monkeypatch, capsys):
    import bench.grade

    monkeypatch.setenv("DATABASE_URL", worker_database_url())
    assert (
        bench.grade.main(["--small", "--prompts", "6", "--concurrency", "4", "--latency-ms", "50"])
        == 0
    )
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("SUMMARY grade")]
    assert len(summary) == 1 and "lost 0, duplicates 0" in summary[0]
    assert "clean: 24/24" in out and "faults: 24/24" in out


def test_calibration_bench_small(db, policy_version, capsys):
    import bench.calibration

    assert bench.calibration.main(["--small"]) == 0
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("SUMMARY calibration")]
    assert len(summary) == 1 and "judgments" in summary[0]
    assert "grades=0" not in out


def test_consensus_bench_small(db, policy_version, capsys):
    import bench.consensus

    assert bench.consensus.main(["--small"]) == 0
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("SUMMARY consensus")]
    assert len(summary) == 1 and "planted raters" in summary[0]
    assert "planted errors (HH-RLHF)" in out


def test_compare_bench_small(db, policy_version, capsys):
    import bench.compare

    assert bench.compare.main(["--small"]) == 0
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("SUMMARY compare")]
    assert len(summary) == 1
    assert "ab_covers_0.65=yes" in summary[0] and "order_right=yes" in summary[0]
