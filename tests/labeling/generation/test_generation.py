"""Generation end to end: real Redis broker, real Celery workers, the offline model server."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from labeling.generation import endpoints, executor, runs, semaphore
from labeling.generation.styles import BUILT_IN
from labeling.imports.prompts import prompt_import
from labeling.models import Candidate, GenerationRun, GenerationTask, Pair
from presentation.untrusted_text import RENDERER, render_untrusted
from tests.conftest import _purge_broker, wait_until
from tests.labeling.conftest import jsonl_bytes

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
    return endpoints.endpoint_create(
        name=kwargs.pop("name", "offline"),
        base_url=server.base_url,
        model="graylab-offline",
        **{k: v for k, v in options.items() if k != "name"},
    )


def _finish(run, timeout=90):
    def done():
        runs.run_recover(run_id=run.pk)
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
    run = runs.run_create(
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
    # Each candidate is stored with its inert HTML, so annotators' pages never render it.
    for candidate in candidates:
        assert candidate.html_renderer == RENDERER
        assert candidate.html == render_untrusted(candidate.text)
    # Each row records its latency and attempts, written in bulk with the batch.
    tasks = GenerationTask.objects.filter(run=run)
    assert not tasks.filter(latency_ms=None).exists()
    assert not tasks.filter(attempts=0).exists()
    # Pairs across styles, never within one style and source, in canonical order.
    pairs = Pair.objects.filter(prompt__campaign=campaign).select_related(
        "candidate_a", "candidate_b"
    )
    assert pairs.count() == 6 * 4
    for pair in pairs:
        assert pair.candidate_a_id < pair.candidate_b_id
        assert pair.candidate_a.style != pair.candidate_b.style
    # The same run again plans nothing new: every key exists.
    again = runs.run_create(
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
    run = _finish(runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1]))
    before = Candidate.objects.count()
    for task in GenerationTask.objects.filter(run=run):
        assert executor.planned_execute(planned_id=task.pk) == "skipped"
    from labeling.generation.dispatch import enqueue_ids

    enqueue_ids(GenerationTask.objects.filter(run=run).values_list("id", flat=True))
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
    monkeypatch.setattr(executor, "BACKOFF_BASE_SECONDS", 0.05)
    monkeypatch.setattr(executor, "MAX_ATTEMPTS", 12)
    offline_server.configure(latency_ms=5, seed=3, **fault)
    _prompts(campaign, 5)
    endpoint = _endpoint(offline_server, timeout_seconds=1.0)
    run = _finish(runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES))
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
    monkeypatch.setattr(executor, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setattr(executor, "MAX_ATTEMPTS", 2)
    offline_server.configure(latency_ms=1, seed=5, rate_500=0.5)
    _prompts(campaign, 8)
    endpoint = _endpoint(offline_server)
    run = _finish(runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1]))
    assert run.status in ("completed", "failed")
    assert run.succeeded + run.failed == run.planned == 8
    failed = GenerationTask.objects.filter(run=run, status="failed")
    assert failed.count() == run.failed
    for task in failed:
        assert task.error_kind == "server_error" and "500" in task.error


def test_refused_connection_fails_with_reason(campaign, celery_worker, monkeypatch):
    monkeypatch.setattr(executor, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setattr(executor, "MAX_ATTEMPTS", 2)
    _prompts(campaign, 2)
    endpoint = endpoints.endpoint_create(
        name="nowhere", base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=1
    )
    run = _finish(runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1]))
    assert run.status == "failed"
    assert set(GenerationTask.objects.filter(run=run).values_list("error_kind", flat=True)) == {
        "connection"
    }


def test_cancel_and_resume(campaign, celery_worker, offline_server):
    offline_server.configure(latency_ms=200)
    _prompts(campaign, 10)
    endpoint = _endpoint(offline_server, concurrency_limit=1)
    run = runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1])
    wait_until(lambda: GenerationRun.objects.get(pk=run.pk).succeeded >= 1, timeout=30)
    run.refresh_from_db()
    runs.run_cancel(run=run)
    time.sleep(1.0)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.succeeded < 10
    assert GenerationTask.objects.filter(run=run, status="cancelled").exists()
    runs.run_resume(run=run)
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
        runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES), timeout=120
    )
    assert run.status == "completed" and run.succeeded == 24
    stats = httpx.get(offline_server.base_url.removesuffix("/v1") + "/stats").json()
    assert 1 <= stats["max_in_flight"] <= 3


def test_worker_killed_mid_run(campaign, worker_process, offline_server):
    offline_server.configure(latency_ms=150)
    _prompts(campaign, 15)
    endpoint = _endpoint(offline_server, timeout_seconds=1.0, concurrency_limit=8)
    first = worker_process(queues="generation", concurrency=4)
    run = runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES)
    wait_until(lambda: GenerationRun.objects.get(pk=run.pk).succeeded >= 4, timeout=60)
    first.kill()
    run.refresh_from_db()
    assert run.status == "running" and run.succeeded < run.planned
    worker_process(queues="generation", concurrency=4)
    # Nobody sweeps by hand: the new worker's sweep sends again
    # what the dead worker held once its lease runs out, and finalises the run.
    wait_until(
        lambda: GenerationRun.objects.get(pk=run.pk).status not in ("queued", "running"),
        timeout=120,
        interval=0.5,
    )
    run.refresh_from_db()
    assert run.status == "completed"
    assert run.succeeded == run.planned == 30
    _assert_exactly_once(run)
    assert Candidate.objects.filter(prompt__campaign=campaign).count() == 30


def test_batch_takes_due_retries_along(transactional_db, campaign, offline_server):
    """A batch of fresh rows also runs rows of its run whose retry is due (no worker here:
    the batch runs in this process, its calls over HTTP to the offline server)."""
    _prompts(campaign, 6)
    endpoint = _endpoint(offline_server)  # limit 4: batches of 4, plus 1 due retry
    run = runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1])
    assert runs.run_plan(run_id=run.pk) == 6
    tasks = list(GenerationTask.objects.filter(run=run).order_by("id"))
    GenerationTask.objects.filter(pk=tasks[-1].pk).update(
        attempts=1, available_at=timezone.now() - timedelta(seconds=1), error_kind="timeout"
    )
    GenerationTask.objects.filter(pk=tasks[-2].pk).update(
        attempts=1, available_at=timezone.now() + timedelta(hours=1), error_kind="timeout"
    )
    figures = executor.planned_batch_execute(planned_ids=[task.pk for task in tasks[:4]])
    assert figures["done"] == 5
    done = set(GenerationTask.objects.filter(run=run, status="done").values_list("pk", flat=True))
    assert done == {task.pk for task in tasks[:4]} | {tasks[-1].pk}
    assert GenerationTask.objects.get(pk=tasks[-1].pk).attempts == 2
    # Not due yet: left for its own message.
    assert GenerationTask.objects.get(pk=tasks[-2].pk).status == "pending"
    # The same batch again finds nothing to claim.
    assert executor.planned_batch_execute(planned_ids=[task.pk for task in tasks[:4]]) == {
        "skipped": 4
    }
    run.refresh_from_db()
    assert run.succeeded == 5 and run.status == "running"
    _assert_exactly_once(run)
    assert Pair.objects.filter(prompt__campaign=campaign).count() == 0  # one style: no pairs


def test_semaphore_wakes_a_waiter_and_outlives_a_dead_holder(db):
    endpoint_id = 2_000_000_001
    client = semaphore._redis()
    client.delete(semaphore._key(endpoint_id), semaphore._freed_key(endpoint_id))
    # A holder that dies never releases: its lease expires and the slot comes back.
    dead = semaphore._redis_slot(endpoint_id, 1, 0.3, 1.0)
    dead.__enter__()
    assert semaphore.semaphore_holders(endpoint_id) == 1
    with semaphore.endpoint_slot(endpoint_id, 1, lease_seconds=30, wait_seconds=10):
        assert semaphore.semaphore_holders(endpoint_id) == 1
        # A waiter blocks while the slot is held and gets it once it is given back.
        got = threading.Event()

        def waiter():
            with semaphore.endpoint_slot(endpoint_id, 1, lease_seconds=30, wait_seconds=20):
                got.set()

        thread = threading.Thread(target=waiter)
        thread.start()
        assert not got.wait(0.3)
    thread.join(timeout=30)
    assert got.is_set()
    assert semaphore.semaphore_holders(endpoint_id) == 0
    # With every slot held, a waiter gives up after its wait.
    with (
        semaphore.endpoint_slot(endpoint_id, 1, lease_seconds=30, wait_seconds=10),
        pytest.raises(semaphore.SemaphoreTimeout),
        semaphore.endpoint_slot(endpoint_id, 1, lease_seconds=30, wait_seconds=0.2),
    ):
        pass
    client.delete(semaphore._key(endpoint_id), semaphore._freed_key(endpoint_id))


def test_message_before_its_retry_is_due_sends_itself_again(
    campaign, worker_process, offline_server
):
    """A message that arrives before its rows may be retried claims nothing and is sent again
    for when they are due: the run finishes with no sweep."""
    _prompts(campaign, 3)
    endpoint = _endpoint(offline_server)
    run = runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES[:1])
    assert runs.run_plan(run_id=run.pk) == 3
    _purge_broker()  # no worker yet: drop the plan's messages, send our own below
    ids = list(GenerationTask.objects.filter(run=run).values_list("pk", flat=True))
    worker_process(queues="generation", concurrency=2)
    from config.celery import ping

    assert ping.apply_async(args=("up",), queue="generation").get(timeout=60) == "up"
    GenerationTask.objects.filter(pk__in=ids).update(
        attempts=1, available_at=timezone.now() + timedelta(seconds=2), error_kind="rate_limited"
    )
    from labeling.generation.dispatch import enqueue_ids

    enqueue_ids(ids)  # too early: the worker is up and takes it at once

    def finished():
        run.refresh_from_db()
        return run.status == "completed"

    wait_until(finished, timeout=90, interval=0.3)
    assert run.succeeded == 3
    assert set(GenerationTask.objects.filter(run=run).values_list("attempts", flat=True)) == {2}
    _assert_exactly_once(run)
