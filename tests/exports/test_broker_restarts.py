"""Exports whose message or worker is lost finish anyway, with nobody pressing a button.

The first test reproduces the probe's case: an export queued while no worker ran, then the
broker restarted (its own Redis, no persistence: the message is gone). A worker started
afterwards finds the export with its sweep and runs it. The others check the sweep itself.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from config.celery import app
from exports import services
from exports.models import Export
from tests.conftest import wait_until
from tests.own_services import HAVE_REDIS_SERVER, OwnRedis

pytestmark = pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server")


def _queued_messages() -> int:
    with app.connection_for_write() as connection:
        return int(connection.default_channel.client.llen("exports"))


@pytest.mark.timeout(180)
def test_export_queued_while_broker_restarts_runs_once_a_worker_starts(
    hand: dict[str, Any],
    client_for: Any,
    own_broker: OwnRedis,
    worker_process: Any,
    tmp_path: Path,
) -> None:
    client = client_for("rita")
    response = client.post(
        "/api/v1/exports/",
        {"format": "trl-preference", "campaigns": ["hand"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    export_id = response.json()["id"]
    assert _queued_messages() == 1

    own_broker.stop()
    own_broker.start()
    assert _queued_messages() == 0, "the restart should have lost the message"

    data = tmp_path / "worker-data"
    worker = worker_process(
        queues="default,generation,exports",
        env={
            "CELERY_BROKER_URL": own_broker.url,
            "GRAYLAB_SWEEP_SECONDS": "1",
            "EXPORT_LEASE_SECONDS": "2",
            "GRAYLAB_DATA_DIR": str(data),
        },
    )
    wait_until(lambda: Export.objects.get(pk=export_id).is_finished, timeout=120, interval=0.5)
    # Its learnability report follows and packs the archive again: compare sizes after it.
    wait_until(
        lambda: (
            Export.objects.get(pk=export_id).learnability_status
            in (Export.Status.COMPLETED, Export.Status.FAILED)
        ),
        timeout=120,
        interval=0.5,
    )
    export = Export.objects.get(pk=export_id)
    assert export.status == Export.Status.COMPLETED, export.error
    archive = data / "exports" / export_id / export.archive_name
    assert archive.stat().st_size == export.archive_bytes
    assert worker.alive()


def test_sweep_sends_a_stale_export_once_however_many_sweeps(
    hand: dict[str, Any], personas: Any, own_broker: OwnRedis, settings: Any
) -> None:
    settings.EXPORT_LEASE_SECONDS = 30
    old = timezone.now() - timedelta(seconds=60)
    stale = services.export_create(
        user=personas["rita"], data={"format": "trl-preference", "campaigns": ["hand"]}
    )
    Export.objects.filter(pk=stale.pk).update(created_at=old)
    fresh = services.export_create(
        user=personas["rita"], data={"format": "trl-preference", "campaigns": ["hand"]}
    )
    dead = services.export_create(
        user=personas["rita"], data={"format": "trl-preference", "campaigns": ["hand"]}
    )
    # A worker took this one and has not reported since: it died.
    Export.objects.filter(pk=dead.pk).update(
        status=Export.Status.RUNNING, heartbeat_at=old, pairs_done=3
    )
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete("exports")

    assert services.exports_recover() == {"resent": 2, "requeued": 1}
    # A second sweep (another worker, a moment later) leaves them alone.
    assert services.exports_recover() == {"resent": 0, "requeued": 0}
    assert _queued_messages() == 2
    dead.refresh_from_db()
    assert dead.status == Export.Status.QUEUED and dead.pairs_done == 0
    fresh.refresh_from_db()
    assert fresh.status == Export.Status.QUEUED and fresh.heartbeat_at is None


def test_a_live_workers_export_is_not_taken_by_a_second_message(
    hand: dict[str, Any], personas: Any, settings: Any
) -> None:
    settings.EXPORT_LEASE_SECONDS = 30
    export = services.export_create(
        user=personas["rita"],
        data={"format": "trl-preference", "campaigns": ["hand"]},
        enqueue=False,
    )
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.RUNNING, heartbeat_at=timezone.now(), pairs_done=2
    )
    # A second delivery while the first worker still reports: nothing happens.
    assert services.export_run(export_id=export.pk).status == Export.Status.RUNNING
    assert Export.objects.get(pk=export.pk).pairs_done == 2
    # Once it stops reporting, a delivery runs it again from the start.
    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    assert services.export_run(export_id=export.pk).status == Export.Status.COMPLETED
