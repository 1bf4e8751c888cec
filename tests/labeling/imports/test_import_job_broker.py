"""An import job created while the broker is down is refused (503) and leaves nothing behind:
no job row, no stored upload. Real brokers only: the test's own ``redis-server``, stopped and
started again (see tests/exports/test_broker_unavailable.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.broker import BROKER_UNAVAILABLE
from labeling.models import ImportJob, Prompt
from tests.own_services import HAVE_REDIS_SERVER, OwnRedis

pytestmark = pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server")

API_PROMPTS = "/api/v1/campaigns/test-campaign/prompts/import/"
LINES = b'{"prompt": "How do tides work?", "category": "benign/general", "intent": "benign"}\n'


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("prompts.jsonl", LINES * 10)


@pytest.mark.django_db(transaction=True)
def test_an_import_job_is_refused_while_the_broker_is_down(
    own_broker: OwnRedis,
    campaign: Any,
    client_for: Any,
    settings: Any,
) -> None:
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    rita = client_for("rita")
    own_broker.stop()

    started = time.monotonic()
    response = rita.post(API_PROMPTS, {"file": _upload()})
    assert time.monotonic() - started < 10
    assert response.status_code == 503, response.content
    assert response.json() == {"detail": BROKER_UNAVAILABLE}
    assert int(response["Retry-After"]) > 0
    page = rita.post(
        reverse("labeling:campaign_import_prompts", args=[campaign.slug]), {"file": _upload()}
    )
    assert page.status_code == 503
    assert "The task broker is unavailable" in page.content.decode()
    assert not ImportJob.objects.exists()
    assert list(Path(settings.IMPORT_UPLOADS_DIR).glob("*")) == []
    assert not Prompt.objects.exists()

    own_broker.start()
    response = rita.post(API_PROMPTS, {"file": _upload()})
    assert response.status_code == 202, response.content
    assert ImportJob.objects.get().status == ImportJob.Status.QUEUED
