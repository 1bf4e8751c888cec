"""Grading runs end to end: real Redis broker, real Celery workers, the real ``openai`` client
over HTTP to the offline model server's grader stand-in."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from labeling.generation import executor as generation_executor
from labeling.generation.endpoints import endpoint_create
from labeling.grading import executor, runs
from labeling.grading.services import grader_update
from labeling.models import Candidate, Grade, GradingRun, GradingTask, Pair
from offline_model.grading import grade_text, preference_for
from policy.models import PolicyVersion
from tests.conftest import wait_until

pytestmark = pytest.mark.worker

# The campaign_with_pairs fixture: 4 prompts, 3 candidates and 3 pairs each.
CANDIDATES = 12
PAIRS = 12


def _finish(run, timeout=90):
    def done():
        runs.run_recover(run_id=run.pk)
        run.refresh_from_db()
        return not run.is_active

    wait_until(done, timeout=timeout, interval=0.3)
    return run


def _assert_exactly_once(run):
    """Every done row has its one grade; no item (and order) is graded twice."""
    version = run.grader_version
    done = GradingTask.objects.filter(run=run, status=GradingTask.Status.DONE)
    grades = Grade.objects.filter(grader_version=version)
    assert grades.count() == done.count() == run.graded
    assert grades.filter(kind="candidate").values("candidate").distinct().count() == (
        done.filter(kind="candidate").count()
    )
    assert grades.filter(kind="pair").values("pair", "order").distinct().count() == (
        done.filter(kind="pair").count()
    )


def test_a_run_grades_every_candidate_and_every_pair_in_both_orders_once(
    campaign_with_pairs, grader_version, celery_worker, offline_server
):
    # At a grader error rate of 0 the stand-in's grade is its rules' grade.
    offline_server.configure(latency_ms=5, seed=7, grader_error_rate=0.0)
    run = _finish(runs.run_create(campaign=campaign_with_pairs, grader_version=grader_version))
    assert run.status == GradingRun.Status.COMPLETED
    assert run.planned == CANDIDATES + 2 * PAIRS == run.graded
    assert run.failed == 0 and run.prompt_tokens > 0 and run.completion_tokens > 0
    _assert_exactly_once(run)
    for candidate in Candidate.objects.all():
        grade = Grade.objects.get(candidate=candidate)
        expected = grade_text(candidate.text)
        assert (grade.response_mode, grade.severity, grade.helpfulness) == (
            expected.response_mode,
            expected.severity,
            expected.helpfulness,
        )
        assert grade.samples == 3 and len(grade.raw_answers) == 3 and grade.confidence == 1.0
    for pair in Pair.objects.select_related("candidate_a", "candidate_b"):
        a, b = grade_text(pair.candidate_a.text), grade_text(pair.candidate_b.text)
        by_order = {grade.order: grade.preference for grade in Grade.objects.filter(pair=pair)}
        # Stored in canonical order (negative: A better) whichever candidate was shown first.
        assert by_order == {"ab": preference_for(a, b), "ba": -preference_for(b, a)}
    # The same grader version over the same items plans nothing new.
    again = _finish(runs.run_create(campaign=campaign_with_pairs, grader_version=grader_version))
    assert (again.status, again.planned) == ("completed", 0)
    assert Grade.objects.count() == CANDIDATES + 2 * PAIRS


def test_kinds_and_limit(campaign_with_pairs, grader_version, celery_worker, offline_server):
    run = _finish(
        runs.run_create(
            campaign=campaign_with_pairs, grader_version=grader_version, pairs=False, limit=5
        )
    )
    assert (run.status, run.planned, run.graded) == ("completed", 5, 5)
    first = list(Candidate.objects.order_by("id").values_list("id", flat=True)[:5])
    assert sorted(Grade.objects.values_list("candidate_id", flat=True)) == first
    pairs = _finish(
        runs.run_create(
            campaign=campaign_with_pairs, grader_version=grader_version, candidates=False, limit=2
        )
    )
    assert (pairs.planned, pairs.graded) == (4, 4)
    assert set(Grade.objects.filter(kind="pair").values_list("order", flat=True)) == {"ab", "ba"}


@pytest.mark.parametrize(
    "fault",
    [{"rate_429": 0.3, "retry_after": 0.1}, {"rate_500": 0.3}, {"rate_malformed": 0.3}],
    ids=["429", "500", "malformed"],
)
def test_faults_are_retried_nothing_lost_nothing_twice(
    campaign_with_pairs, grader_version, celery_worker, offline_server, fault, monkeypatch
):
    monkeypatch.setattr(generation_executor, "BACKOFF_BASE_SECONDS", 0.05)
    monkeypatch.setattr(executor, "MAX_ATTEMPTS", 12)
    offline_server.configure(latency_ms=5, seed=3, **fault)
    run = _finish(runs.run_create(campaign=campaign_with_pairs, grader_version=grader_version))
    assert run.status == "completed"
    assert run.graded == run.planned == CANDIDATES + 2 * PAIRS and run.failed == 0
    assert GradingTask.objects.filter(run=run, attempts__gt=1).exists()
    assert offline_server.stats()["requests"] > run.planned
    _assert_exactly_once(run)


def test_answers_that_are_not_grades_fail_with_the_reason_and_store_nothing(
    campaign_with_pairs, grader_version, celery_worker, endpoint_server, monkeypatch
):
    monkeypatch.setattr(generation_executor, "BACKOFF_BASE_SECONDS", 0.02)
    # This endpoint refuses response_format; asked again without it, it answers in prose.
    server = endpoint_server(refuse_response_format=True)
    prose = endpoint_create(name="prose", base_url=server.base_url, model="graylab-offline")
    grader_update(grader=grader_version.grader, changes={"endpoint": prose, "samples": 1})
    version = grader_version.grader.versions.get()
    run = _finish(
        runs.run_create(campaign=campaign_with_pairs, grader_version=version, pairs=False, limit=2)
    )
    assert (run.status, run.planned, run.graded, run.failed) == ("failed", 2, 0, 2)
    for task in GradingTask.objects.filter(run=run):
        assert task.status == "failed" and task.attempts == executor.ANSWER_ATTEMPTS
        assert task.error_kind == "answer"
        assert task.error == (
            "sample 1: answer: no JSON object with a grade was found in the answer"
        )
    assert not Grade.objects.exists()


def test_an_item_whose_category_the_policy_lacks_fails_with_the_reason(
    campaign_with_pairs, grader_version, celery_worker, offline_server
):
    snapshot = grader_version.policy_version.snapshot
    narrow = PolicyVersion.objects.create(
        number=PolicyVersion.objects.order_by("-number").first().number + 1,
        notes="no chemistry",
        snapshot={
            **snapshot,
            "categories": [
                entry
                for entry in snapshot["categories"]
                if not entry["path"].startswith("chemistry")
            ],
        },
    )
    grader_update(grader=grader_version.grader, changes={"policy_version": narrow})
    version = grader_version.grader.versions.get()
    run = _finish(runs.run_create(campaign=campaign_with_pairs, grader_version=version))
    # Prompt p3 (chemistry/dual-use): its 3 candidates and its 3 pairs in both orders.
    assert (run.status, run.planned, run.failed) == ("completed", 36, 9)
    assert run.graded == 27
    failed = GradingTask.objects.filter(run=run, status="failed").select_related(
        "candidate", "pair"
    )
    for task in failed:
        item = f"candidate {task.candidate_id}" if task.candidate_id else f"pair {task.pair_id}"
        assert task.error_kind == "category" and task.attempts == 1
        assert task.error == (
            f"{item}: category 'chemistry/dual-use' is not in policy version "
            f"{narrow.number}, the version this grader applies."
        )
    assert not Grade.objects.filter(candidate__prompt__external_id="p3").exists()
    assert not Grade.objects.filter(pair__prompt__external_id="p3").exists()


def test_cancel_and_resume(
    campaign_with_pairs, grading_endpoint, grader_version, celery_worker, offline_server
):
    offline_server.configure(latency_ms=150, seed=7)
    grading_endpoint.concurrency_limit = 1
    grading_endpoint.save()
    run = runs.run_create(campaign=campaign_with_pairs, grader_version=grader_version)
    wait_until(lambda: GradingRun.objects.get(pk=run.pk).graded >= 1, timeout=30)
    runs.run_cancel(run=run)
    wait_until(
        lambda: not GradingTask.objects.filter(run=run, status="running").exists(), timeout=30
    )
    run.refresh_from_db()
    assert run.status == "cancelled" and run.graded < run.planned
    assert GradingTask.objects.filter(run=run, status="cancelled").exists()
    offline_server.configure(latency_ms=5, seed=7)
    runs.run_resume(run=run)
    _finish(run)
    assert run.status == "completed" and run.graded == run.planned == CANDIDATES + 2 * PAIRS
    _assert_exactly_once(run)


def test_grade_command_waits_and_prints_the_counters_last(
    campaign_with_pairs, grader_version, celery_worker, offline_server
):
    out = io.StringIO()
    call_command(
        "grade",
        "--campaign",
        campaign_with_pairs.slug,
        "--grader",
        "safety-judge",
        "--pairs",
        "--limit",
        "3",
        "--wait",
        stdout=out,
    )
    last = out.getvalue().strip().splitlines()[-1]
    run = GradingRun.objects.get()
    assert json.loads(last) == {"run": run.pk, "planned": 6, "graded": 6, "failed": 0}
    assert not run.candidates and run.pairs


def test_worker_killed_mid_run_the_sweep_finishes_it(
    campaign_with_pairs, grading_endpoint, grader_version, worker_process, offline_server
):
    offline_server.configure(latency_ms=150, seed=7)
    # A short timeout keeps the dead worker's leases short (a lease covers every sample).
    grading_endpoint.timeout_seconds = 1.0
    grading_endpoint.save()
    first = worker_process(queues="grading", concurrency=4)
    run = runs.run_create(campaign=campaign_with_pairs, grader_version=grader_version)
    wait_until(lambda: GradingRun.objects.get(pk=run.pk).graded >= 4, timeout=60)
    first.kill()
    run.refresh_from_db()
    assert run.status == "running" and run.graded < run.planned
    worker_process(queues="grading", concurrency=4)
    # Nobody sweeps by hand: the new worker's sweep sends again what the dead one held once
    # its lease runs out, and finalises the run.
    wait_until(lambda: not GradingRun.objects.get(pk=run.pk).is_active, timeout=120, interval=0.5)
    run.refresh_from_db()
    assert run.status == "completed"
    assert run.graded == run.planned == CANDIDATES + 2 * PAIRS
    _assert_exactly_once(run)
