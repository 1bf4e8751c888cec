"""A job created while the broker is down is refused (503) and leaves nothing behind.

Real brokers only: the test starts its own ``redis-server`` on a spare port, points Celery at
it, kills it, and starts it again. The shared Redis is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exports.models import Export
from labeling.broker import BROKER_UNAVAILABLE
from labeling.generation import endpoints
from labeling.models import Campaign, GenerationRun, GenerationTask
from policy.models import PolicyVersion
from tests.own_services import HAVE_REDIS_SERVER, OwnRedis

pytestmark = pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server")


@pytest.fixture
def campaign(transactional_db: None) -> Campaign:
    policy = PolicyVersion.objects.order_by("number").first()
    return Campaign.objects.create(name="Broker", slug="broker", policy_version=policy)


def _create_export(client: Client) -> Any:
    return client.post(
        "/api/v1/exports/",
        {"format": "trl-preference", "campaigns": ["broker"]},
        content_type="application/json",
    )


def _create_run(client: Client) -> Any:
    return client.post(
        "/api/v1/generation-runs/",
        {
            "campaign": "broker",
            "endpoints": ["offline"],
            "styles": [{"name": "refusal-style"}],
        },
        content_type="application/json",
    )


def _assert_refused(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": BROKER_UNAVAILABLE}
    assert int(response["Retry-After"]) > 0


def test_jobs_refused_while_broker_down_then_created(
    transactional_db: None,
    own_broker: OwnRedis,
    campaign: Campaign,
    client_for: Callable[[str], Client],
) -> None:
    endpoint = endpoints.endpoint_create(
        name="offline", base_url="http://127.0.0.1:9/v1", model="m"
    )
    rita = client_for("rita")

    own_broker.stop()
    started = time.monotonic()
    _assert_refused(_create_export(rita))
    _assert_refused(_create_run(rita))
    assert time.monotonic() - started < 10
    assert not Export.objects.exists()
    assert not GenerationRun.objects.exists()
    assert not GenerationRun.endpoints.through.objects.exists()
    assert not GenerationTask.objects.exists()

    # The pages say so on the form, with a 503 and nothing created.
    page = rita.post(
        reverse("labeling:run_create", kwargs={"slug": "broker"}),
        {
            "endpoints": [str(endpoint.pk)],
            "styles": ["refusal-style"],
            "samples_per_prompt": 1,
            "temperature": 0.7,
            "max_tokens": 64,
            "seed": 0,
        },
    )
    assert page.status_code == 503, page.content[:2000]
    assert "The task broker is unavailable" in page.content.decode()
    assert not GenerationRun.objects.exists()

    own_broker.start()
    export = _create_export(rita)
    assert export.status_code == 201, export.content
    run = _create_run(rita)
    assert run.status_code == 201, run.content
    assert Export.objects.get().status == Export.Status.QUEUED
    assert GenerationRun.objects.get().endpoints.count() == 1
