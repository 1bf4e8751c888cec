"""bench/annotate.py in its small size, so the benchmark never rots (no timing asserted)."""

from __future__ import annotations

import pytest

from .factories import ensure_roles


@pytest.mark.django_db(transaction=True)
def test_bench_annotate_small_runs_and_prints_a_summary(capsys):
    from bench import annotate

    ensure_roles()
    assert annotate.main(["--small", "--requests", "8", "--seconds", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = lines[-1]
    assert summary.startswith("annotate: pairs=300 judgments=900 ")
    assert "alone n=8 " in summary and "ratio=" in summary and "floor" in summary


@pytest.mark.django_db(transaction=True)
def test_bench_annotate_small_with_many_campaigns_measures_the_last(capsys):
    from bench import annotate

    ensure_roles()
    assert annotate.main(["--small", "--campaigns", "3", "--requests", "4", "--seconds", "1"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("annotate: campaigns=3 pairs=900 judgments=2700 ")
    assert "alone n=4 " in summary and "busy answers" in summary


@pytest.mark.django_db(transaction=True)
def test_bench_annotate_small_under_grader_first_routing(capsys):
    from bench import annotate
    from labeling.models import Pair

    ensure_roles()
    argv = ["--small", "--requests", "8", "--seconds", "1", "--routing", "grader-first"]
    assert annotate.main(argv) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("annotate: routing=grader-first pairs=300 judgments=900 ")
    pairs = Pair.objects.filter(campaign__slug=f"{annotate.SLUG}-small")
    assert pairs.values("route_rank").distinct().count() > 100
    # The claim never served a pair accepted as an AI label.
    assert not pairs.filter(
        ai_accepted=True, assignments__annotator__username__startswith=("bench-annotator-")
    ).exists()
