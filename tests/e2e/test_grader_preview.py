"""A researcher creates a grader and previews a candidate in a real browser (Playwright +
Chromium), the grader's endpoint being the offline model server over HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from labeling.campaigns.services import campaign_create
from labeling.generation.endpoints import endpoint_create
from labeling.imports.candidates import candidate_import
from labeling.imports.prompts import prompt_import
from labeling.models import Campaign, Candidate
from offline_model.server import OfflineModelServer
from policy.selectors import latest_version
from tests.conftest import make_user
from tests.labeling.conftest import CAMPAIGN_PROMPTS, jsonl_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture
def researcher_session(transactional_db: None) -> str:
    """A signed-in researcher's session key, made before the browser starts: every database
    call of this test happens in fixtures, none while Playwright's event loop runs."""
    client = Client()
    client.force_login(make_user("rita", "researcher"))
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def offline_server() -> Iterator[OfflineModelServer]:
    # At a grader error rate of 0 the grader stand-in's grade is the rules' grade.
    server = OfflineModelServer("127.0.0.1", 0, latency_ms=5, seed=7, grader_error_rate=0.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def offline_endpoint(offline_server: OfflineModelServer) -> Any:
    return endpoint_create(
        name="offline", base_url=offline_server.base_url, model="graylab-offline"
    )


@pytest.fixture
def campaign_with_candidates(transactional_db: None) -> Campaign:
    campaign = campaign_create(
        name="Graded", slug="graded", policy_version=latest_version(), open_now=True
    )
    prompt_import(campaign=campaign, source=jsonl_bytes(CAMPAIGN_PROMPTS), file_format="jsonl")
    rows = [
        {"external_id": item["external_id"], "source": source, "completion": f"{source} says hi."}
        for item in CAMPAIGN_PROMPTS
        for source in ("model-a", "model-b")
    ]
    candidate_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    return campaign


@pytest.fixture
def first_candidate_id(campaign_with_candidates: Campaign) -> int:
    return Candidate.objects.filter(prompt__campaign=campaign_with_candidates).order_by("id")[0].pk


def test_create_a_grader_then_preview_a_candidate(
    live_server: Any,
    researcher_session: str,
    campaign_with_candidates: Campaign,
    first_candidate_id: int,
    offline_endpoint: Any,
    browser: Any,
) -> None:
    # The server's first request imports every URL module: done here, not inside a timeout.
    urllib.request.urlopen(live_server.url + "/accounts/login/", timeout=120).close()
    context = browser.new_context(base_url=live_server.url)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": researcher_session,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" else None,
    )

    page.goto("/graders/")
    page.get_by_role("link", name="New grader").click()
    page.fill("#id_name", "browser-judge")
    page.select_option("#id_endpoint", label="offline")
    page.fill("#id_samples", "2")
    page.get_by_role("button", name="Create").click()
    page.locator("#grader-versions").wait_for()
    assert "Grader browser-judge" in page.locator("h1").inner_text()
    # The history shows version 1 with its 2 samples (read from the page, not the database:
    # see researcher_session).
    assert page.locator("#grader-versions tbody tr").count() == 1
    cells = page.locator("#grader-versions tbody tr td").all_inner_texts()
    assert (cells[0], cells[5]) == ("1", "2")

    page.get_by_role("link", name="Preview").first.click()
    page.select_option("#id_campaign", value=campaign_with_candidates.slug)
    page.get_by_role("button", name="Show its first candidates and pairs").click()
    page.get_by_role("button", name=f"Candidate {first_candidate_id}", exact=True).click()
    result = page.locator("#preview-result .preview-order")
    result.wait_for()
    assert "<response>" in page.locator("#preview-result .filled-prompt").inner_text()
    assert page.locator("#preview-result .raw-answer").count() == 2
    assert page.locator("#preview-result .parse-error").count() == 0
    grade = page.locator("#preview-result .parsed-grade").inner_text()
    # "model-a says hi." answers without refusing and names no risk.
    assert "Response mode\nDirect answer" in grade and "Severity\nNone" in grade
    assert problems == []
