"""The generation run page's actions follow the run's status in the card htmx polls, so a run
that ends while its page is open stops offering Cancel, and Resume appears only where there is
something to resume."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from labeling.generation import endpoints, executor, runs
from labeling.generation.styles import BUILT_IN
from labeling.imports.prompts import prompt_import
from labeling.models import Campaign, GenerationTask
from offline_model.server import OfflineModelServer
from tests.labeling.conftest import jsonl_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def _polled_card(client: Client, run_id: int) -> str:
    """What htmx swaps in on each poll: the progress card alone."""
    url = reverse("labeling:run_detail", args=[run_id])
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_the_polled_card_carries_the_actions_of_the_current_status(
    campaign: Campaign, client_for: Callable[[str], Client], offline_server: OfflineModelServer
) -> None:
    rows = [
        {"prompt": f"Question {i}", "category": "benign/general", "intent": "benign"}
        for i in range(3)
    ]
    prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    endpoint = endpoints.endpoint_create(
        name="offline", base_url=offline_server.base_url, model="graylab-offline"
    )
    run = runs.run_create(
        campaign=campaign, endpoints=[endpoint], styles=[BUILT_IN["refusal-style"]]
    )
    assert runs.run_plan(run_id=run.pk) == 3
    rita = client_for("rita")
    running = _polled_card(rita, run.pk)
    assert 'id="run-actions"' in running and ">Cancel<" in running and "Resume" not in running

    # The run finishes while the page is open: the next poll drops Cancel and offers nothing
    # to resume (nothing failed).
    planned = list(GenerationTask.objects.filter(run=run).values_list("pk", flat=True))
    assert executor.planned_batch_execute(planned_ids=planned)["done"] == 3
    runs.run_finalise(run_id=run.pk)
    finished = _polled_card(rita, run.pk)
    assert "Completed" in finished
    assert ">Cancel<" not in finished and "Recover lost work" not in finished
    assert "Resume" not in finished and "Retry" not in finished
    assert "hx-trigger" not in finished  # polling stops

    # A cancelled run offers Resume; a run with failures offers to retry them, counted.
    cancelled = runs.run_create(
        campaign=campaign, endpoints=[endpoint], styles=[BUILT_IN["safe-completion-style"]]
    )
    runs.run_cancel(run=cancelled)
    assert ">Resume<" in _polled_card(rita, cancelled.pk)
    GenerationTask.objects.filter(run=run).update(status="failed")
    type(run).objects.filter(pk=run.pk).update(succeeded=2, failed=1)
    assert "Retry 1 failed" in _polled_card(rita, run.pk)
