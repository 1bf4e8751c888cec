"""A researcher starts a grading run from the grader's page and follows it in a real browser:
the progress card updates live, the run is cancelled and resumed, and the items the pinned
policy cannot grade are listed with their reasons (Playwright + Chromium, a real Celery worker,
the offline model server over HTTP)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from labeling.campaigns.services import campaign_create
from labeling.generation.endpoints import endpoint_create
from labeling.grading.services import grader_create
from labeling.imports.candidates import candidate_import
from labeling.imports.prompts import prompt_import
from labeling.models import Campaign, GradingRun, Prompt
from offline_model.server import OfflineModelServer
from tests.conftest import make_user
from tests.e2e.conftest import signed_in_page
from tests.labeling.conftest import policy_version  # noqa: F401 - a fixture this test uses

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

PROMPTS = 8
UNKNOWN_CATEGORY = "archive/retired-topic"


@pytest.fixture
def slow_server() -> Iterator[OfflineModelServer]:
    # Slow enough, at two calls at a time, for the page to show a run in progress.
    server = OfflineModelServer("127.0.0.1", 0, latency_ms=400, seed=3).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def campaign(policy_version: Any) -> Campaign:  # noqa: F811
    campaign = campaign_create(name="Run page", slug="run-page", policy_version=policy_version)
    rows = "".join(
        json.dumps({"external_id": f"r{i}", "prompt": f"How do I look after plant {i}?"}) + "\n"
        for i in range(PROMPTS)
    )
    prompt_import(
        campaign=campaign,
        source=io.BytesIO(rows.encode()),
        file_format="jsonl",
        default_category="benign/general",
        default_intent="benign",
    )
    answers = "".join(
        json.dumps({"external_id": f"r{i}", "source": source, "completion": text}) + "\n"
        for i in range(PROMPTS)
        for source, text in (
            ("terse", "I can't help with that."),
            ("helper", f"Water plant {i} weekly and give it indirect light."),
        )
    )
    candidate_import(campaign=campaign, source=io.BytesIO(answers.encode()), file_format="jsonl")
    # A prompt filed under a category the grader's policy version does not have: its two
    # candidates and its pair (in both orders) fail, each with the reason.
    Prompt.objects.filter(campaign=campaign, external_id="r0").update(
        category_path=UNKNOWN_CATEGORY
    )
    return campaign


def _graded(page: Any) -> int:
    text = page.locator("#run-progress strong").inner_text()
    match = re.match(r"(\d+) / (\d+) graded", text)
    assert match, text
    return int(match.group(1))


def test_researcher_starts_follows_cancels_and_resumes_a_grading_run(
    live_server: Any,
    browser: Any,
    celery_worker: Any,
    slow_server: OfflineModelServer,
    campaign: Campaign,
    policy_version: Any,  # noqa: F811
) -> None:
    endpoint = endpoint_create(
        name="slow-offline",
        base_url=slow_server.base_url,
        model="graylab-offline",
        timeout_seconds=10,
        concurrency_limit=2,
    )
    grader = grader_create(
        name="run-page-judge", endpoint=endpoint, policy_version=policy_version, samples=2
    ).grader
    page = signed_in_page(browser, live_server, make_user("rita", "researcher"))
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(f"/graders/{grader.name}/")
    form = page.locator("#grading-run-form")
    form.locator("select[name=campaign]").select_option(campaign.slug)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/grading-runs/\d+/$"))
    run = GradingRun.objects.get(grader_version__grader=grader)
    planned = 4 * PROMPTS  # two candidates and one pair in both orders per prompt

    # The progress card polls: the count rises without a reload, with a rate and an ETA.
    page.wait_for_function(
        "() => /^[1-9]\\d* \\/ 32 graded/.test("
        "document.querySelector('#run-progress strong').innerText)"
    )
    first = _graded(page)
    assert first < planned
    page.wait_for_function(
        f"() => parseInt(document.querySelector('#run-progress strong').innerText) > {first}"
    )
    progress = page.locator("#run-progress")
    assert re.search(r"Rate\s+\d+\.\d grades/s", progress.inner_text())
    assert re.search(r"ETA\s+\d+ s", progress.inner_text())

    page.locator("#run-progress button", has_text="Cancel").click()
    page.locator("#run-progress .badge", has_text="Cancelled").wait_for()
    run.refresh_from_db()
    assert run.status == "cancelled" and run.graded + run.failed < planned
    # The page stops polling a cancelled run and offers to resume it.
    cancelled_at = _graded(page)
    page.wait_for_timeout(1500)
    assert _graded(page) == cancelled_at

    page.locator("#run-progress button", has_text="Resume").click()
    page.locator("#run-progress .badge", has_text="Completed").wait_for(timeout=120_000)
    run.refresh_from_db()
    assert run.status == "completed"
    assert (run.graded, run.failed) == (planned - 4, 4)
    assert page.locator("#run-progress strong").inner_text().startswith(f"{planned - 4} / 32")

    failures = page.locator("#run-failures tbody tr")
    assert failures.count() == 4
    for row in range(4):
        reason = failures.nth(row).inner_text()
        assert "category" in reason and UNKNOWN_CATEGORY in reason, reason
    # A finished run offers to retry its failures, not to cancel.
    assert page.locator("#run-progress button", has_text="Cancel").count() == 0
    assert problems == []
