"""A researcher uploads a big prompt file in a real browser (Playwright + Chromium): the upload
becomes a job on a real Celery worker, and the job's page polls its progress panel (htmx)
until it says the import is done."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import get_resolver

from labeling.campaigns.services import campaign_create
from labeling.models import ImportJob, Prompt
from policy.models import PolicyVersion
from policy.seed import ensure_default_policy
from tests.e2e.conftest import signed_in_page

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

COUNT = 5000


@pytest.fixture
def campaign(transactional_db: None) -> Any:
    ensure_default_policy()
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    version = PolicyVersion.objects.order_by("-number").first()
    return campaign_create(name="Big import", slug="big-import", policy_version=version)


def test_a_big_upload_shows_its_progress_until_done(
    browser: Any,
    live_server: Any,
    celery_worker: Any,
    campaign: Any,
    personas: Any,
    settings: Any,
    tmp_path: Any,
) -> None:
    settings.IMPORT_JOB_THRESHOLD_BYTES = 64 * 1024
    rows = (
        {"prompt": f"Question {i}: why is the sky blue?", "category": "benign/general"}
        for i in range(COUNT)
    )
    upload = tmp_path / "prompts.jsonl"
    upload.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert upload.stat().st_size > settings.IMPORT_JOB_THRESHOLD_BYTES

    page = signed_in_page(browser, live_server, personas["rita"])
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.headers.get("hx-request") else None)

    page.goto(f"/campaigns/{campaign.slug}/import/prompts/")
    page.set_input_files("input[name=file]", str(upload))
    page.select_option("select[name=default_intent]", "benign")
    page.get_by_role("button", name="Import").click()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/import/jobs/*/")
    job = ImportJob.objects.get()
    assert page.url.endswith(f"/import/jobs/{job.id}/")
    panel = page.locator("#import-job-status")
    panel.get_by_text(f"Done: imported {COUNT} prompts").wait_for(timeout=120_000)
    assert panel.get_by_text("done", exact=True).is_visible()
    assert polls  # the panel was polled, not reloaded
    assert Prompt.objects.filter(campaign=campaign).count() == COUNT
    page.get_by_role("link", name="Back to the campaign").click()
    page.wait_for_url(f"**/campaigns/{campaign.slug}/")
    assert problems == []
