"""A generation run through broker restarts: it finishes with nobody pressing Recover.

The test starts its own Redis (no persistence, so a restart loses every queued, reserved and
countdown message) and a worker process on it, kills Redis three times mid-run and starts it
again, and waits. The worker must outlive every restart, and its sweep must find the work whose
messages were lost and send it again: the run completes, every candidate exactly once.
"""

from __future__ import annotations

import time

import pytest

from labeling.generation import runs
from labeling.models import Candidate, GenerationRun
from tests.conftest import wait_until
from tests.labeling.generation.test_generation import (
    STYLES,
    _assert_exactly_once,
    _endpoint,
    _prompts,
)
from tests.own_services import HAVE_REDIS_SERVER, OwnRedis

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server"),
]

# The sweep's period in the test's worker; production's is 10 s (GRAYLAB_SWEEP_SECONDS).
SWEEP_SECONDS = "1"


def _restart(broker: OwnRedis, down_seconds: float) -> None:
    broker.stop()
    time.sleep(down_seconds)
    broker.start()


@pytest.mark.timeout(300)
def test_run_finishes_through_broker_restarts_without_recover(
    campaign, own_broker, worker_process, offline_server
):
    offline_server.configure(latency_ms=250)
    _prompts(campaign, 40)
    # A short timeout keeps the lease (and so the sweep's stall period) to a few seconds.
    endpoint = _endpoint(offline_server, timeout_seconds=1.0, concurrency_limit=4)
    worker = worker_process(
        queues="default,generation,exports",
        concurrency=4,
        env={"CELERY_BROKER_URL": own_broker.url, "GRAYLAB_SWEEP_SECONDS": SWEEP_SECONDS},
    )
    run = runs.run_create(campaign=campaign, endpoints=[endpoint], styles=STYLES)
    planned = 80

    def progress() -> int:
        return GenerationRun.objects.get(pk=run.pk).succeeded

    for threshold in (8, 30, 50):
        wait_until(lambda: progress() >= threshold, timeout=90, interval=0.2)  # noqa: B023
        _restart(own_broker, down_seconds=2.0)
        assert worker.alive(), "the worker exited on a broker restart"
    assert progress() < planned, "the run finished before the last restart: nothing was tested"

    wait_until(
        lambda: GenerationRun.objects.get(pk=run.pk).status not in ("queued", "running"),
        timeout=180,
        interval=0.5,
    )
    run.refresh_from_db()
    assert run.status == GenerationRun.Status.COMPLETED, run.error
    assert run.succeeded == run.planned == planned
    _assert_exactly_once(run)
    assert Candidate.objects.filter(prompt__campaign=campaign).count() == planned
    assert worker.alive()
