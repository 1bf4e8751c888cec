"""bench/routing.py in its small size, so the benchmark never rots (no figure asserted beyond
its shape: the grading is real, on worker processes, against the offline grader stand-in)."""

from __future__ import annotations

import pytest

from tests.conftest import test_database_url as worker_database_url

pytestmark = pytest.mark.worker


def test_bench_routing_small_runs_and_prints_a_summary(
    transactional_db, policy_version, monkeypatch, capsys
):
    from bench import routing

    monkeypatch.setenv("DATABASE_URL", worker_database_url())
    assert routing.main(["--small", "--processes", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = lines[-1]
    assert summary.startswith("SUMMARY routing: pairs=60 budget=12 error_rate=0.2 | uniform ")
    assert "grader-first" in summary and "ratio=" in summary
    assert any(line.startswith("graded: 240 of 240 planned grades") for line in lines)
