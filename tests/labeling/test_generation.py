"""Generation end to end: real Redis broker, real Celery workers, the offline model server."""

from __future__ import annotations

import time

import httpx
import pytest

from labeling.generation import services
from labeling.generation.styles import BUILT_IN
from labeling.imports.prompts import prompt_import
from labeling.models import Candidate, GenerationRun, GenerationTask, Pair
from tests.conftest import wait_until

from .conftest import jsonl_bytes

pytestmark = pytest.mark.worker

STYLES = [BUILT_IN["refusal-style"], BUILT_IN["safe-completion-style"]]


def _prompts(campaign, count):
    rows = [
        {
            "prompt": f"Question number {i}: how do locks work?",
            "category": "benign/general",
            "intent": "benign",
            "external_id": f"q{i}",
        }
        for i in range(count)
    ]
    prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")


def _endpoint(server, **kwargs):
    options = {"timeout_seconds": 5.0, "concurrency_limit": 4, **kwargs}
    return services.endpoint_create(
        name=kwargs.pop("name", "offline"),
        base_url=server.base_url,
        model="graylab-offline",
        **{k: v for k, v in options.items() if k != "name"},
    )


def _finish(run, timeout=90):
    def done():
        services.run_recover(run_id=run.pk)
        run.refresh_from_db()
        return run.status not in ("queued", "running")

    wait_until(done, timeout=timeout, interval=0.3)
    return run


def _assert_exactly_once(run):
    tasks = GenerationTask.objects.filter(run=run)
    keys = list(tasks.filter(status="done").values_list("idempotency_key", flat=True))
    candidates = Candidate.objects.filter(idempotency_key__in=keys)
    assert candidates.count() == len(keys)
    assert Candidate.objects.filter(run=run).count() == len(keys)


def test_generation_end_to_end(campaign, celery_worker, offline_server):
    _prompts(campaign, 6)
    endpoint = _endpoint(offline_server)
    run = services.run_create(
        campaign=campaign,
        endpoints=[endpoint],
        styles=STYLES,
        samples_per_prompt=2,
        temperature=0.5,
        max_tokens=64,
        seed=11,
    )
    _finish(run)
    assert run.status == GenerationRun.Status.COMPLETED
    assert run.planned == 6 * 2 * 2 == run.succeeded
    assert run.failed == 0
    candidates = Candidate.objects.filter(run=run)
    assert candidates.count() == 24
    first = candidates.first()
    assert first.model and first.style in BUILT_IN and first.finish_reason
    assert first.completion_tokens and first.latency_ms is not None and first.seed in (11, 12)
    assert run.completion_tokens > 0
    # Pairs across styles, never within one style and source, in canonical order.
    pairs = Pair.objects.filter(prompt__campaign=campaign).select_related(
        "candidate_a", "candidate_b"
    )
    assert pairs.count() == 6 * 4
    for pair in pairs:
        assert pair.candidate_a_id < pair.candidate_b_id
        assert pair.candidate_a.style != pair.candidate_b.style
    # The same run again plans nothing new: every key exists.
    again = services.run_create(
        campaign=campaign,
        endpoints=[endpoint],
        styles=STYLES,
        samples_per_prompt=2,
        temperature=0.5,
        max_tokens=64,
        seed=11,
    )
    _finish(again)
    assert again.planned == 0 and again.status == "completed"
    assert Candidate.objects.filter(prompt__campaign=campaign).count() == 24


def test_redelivered_task_adds_nothing(campaign, celery_worker, offline_server):
    _prompts(campaign, 2)
    endpoint = _endpoint(offline_server)
    run = _finish(services.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1]))
    before = Candidate.objects.count()
    for task in GenerationTask.objects.filter(run=run):
        assert services.task_execute(task_id=task.pk) == "skipped"
    from labeling.generation.tasks import enqueue_tasks

    enqueue_tasks(GenerationTask.objects.filter(run=run).values_list("id", flat=True))
    time.sleep(1)
    assert Candidate.objects.count() == before
    run.refresh_from_db()
    assert run.succeeded == 2


@pytest.mark.parametrize(
    "fault",
    [
        {"rate_429": 0.4, "retry_after": 0.2},
        {"rate_500": 0.4},
        {"rate_malformed": 0.4},
        {"rate_slow": 0.3, "slow_ms": 3000},
    ],
    ids=["429", "500", "malformed", "timeout"],
)
def test_faults_are_retried(campaign, celery_worker, offline_server, fault, monkeypatch):
    monkeypatch.setattr(services, "BACKOFF_BASE_SECONDS", 0.05)
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 12)
    offline_server.configure(latency_ms=5, seed=3, **fault)
    _prompts(campaign, 5)
    endpoint = _endpoint(offline_server, timeout_seconds=1.0)
    run = _finish(services.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES))
    assert run.status == "completed"
    assert run.succeeded == run.planned == 10
    stats = offline_server.stats()
    assert stats["requests"] > 10  # some calls failed and were retried
    retried = GenerationTask.objects.filter(run=run, attempts__gt=1)
    assert retried.exists()
    _assert_exactly_once(run)


def test_failed_after_cap_with_reason_and_run_goes_on(
    campaign, celery_worker, offline_server, monkeypatch
):
    monkeypatch.setattr(services, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 2)
    offline_server.configure(latency_ms=1, seed=5, rate_500=0.5)
    _prompts(campaign, 8)
    endpoint = _endpoint(offline_server)
    run = _finish(services.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1]))
    assert run.status in ("completed", "failed")
    assert run.succeeded + run.failed == run.planned == 8
    failed = GenerationTask.objects.filter(run=run, status="failed")
    assert failed.count() == run.failed
    for task in failed:
        assert task.error_kind == "server_error" and "500" in task.error


def test_refused_connection_fails_with_reason(campaign, celery_worker, monkeypatch):
    monkeypatch.setattr(services, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 2)
    _prompts(campaign, 2)
    endpoint = services.endpoint_create(
        name="nowhere", base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=1
    )
    run = _finish(services.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1]))
    assert run.status == "failed"
    assert set(GenerationTask.objects.filter(run=run).values_list("error_kind", flat=True)) == {
        "connection"
    }


def test_cancel_and_resume(campaign, celery_worker, offline_server):
    offline_server.configure(latency_ms=200)
    _prompts(campaign, 10)
    endpoint = _endpoint(offline_server, concurrency_limit=1)
    run = services.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1])
    wait_until(lambda: GenerationRun.objects.get(pk=run.pk).succeeded >= 1, timeout=30)
    run.refresh_from_db()
    services.run_cancel(run=run)
    time.sleep(1.0)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.succeeded < 10
    assert GenerationTask.objects.filter(run=run, status="cancelled").exists()
    services.run_resume(run=run)
    offline_server.configure(latency_ms=5)
    _finish(run)
    assert run.status == "completed" and run.succeeded == 10
    _assert_exactly_once(run)


def test_concurrency_limit_holds_across_workers(campaign, worker_process, offline_server):
    offline_server.configure(latency_ms=100)
    _prompts(campaign, 12)
    endpoint = _endpoint(offline_server, concurrency_limit=3)
    worker_process(queues="generation", concurrency=6)
    worker_process(queues="generation", concurrency=6)
    offline_server.reset_stats()
    run = _finish(
        services.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES), timeout=120
    )
    assert run.status == "completed" and run.succeeded == 24
    stats = httpx.get(offline_server.base_url.removesuffix("/v1") + "/stats").json()
    assert 1 <= stats["max_in_flight"] <= 3


def test_worker_killed_mid_run(campaign, worker_process, offline_server):
    offline_server.configure(latency_ms=150)
    _prompts(campaign, 15)
    endpoint = _endpoint(offline_server, timeout_seconds=1.0, concurrency_limit=8)
    first = worker_process(queues="generation", concurrency=4)
    run = services.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES)
    wait_until(lambda: GenerationRun.objects.get(pk=run.pk).succeeded >= 4, timeout=60)
    first.kill()
    run.refresh_from_db()
    assert run.status == "running" and run.succeeded < run.planned
    worker_process(queues="generation", concurrency=4)
    _finish(run, timeout=120)
    assert run.status == "completed"
    assert run.succeeded == run.planned == 30
    _assert_exactly_once(run)
    assert Candidate.objects.filter(prompt__campaign=campaign).count() == 30
