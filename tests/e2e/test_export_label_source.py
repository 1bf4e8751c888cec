"""A researcher makes a human-else-grader export through the form in a real browser and reads
the rows by label source on the finished export's page (Playwright + Chromium, a real worker)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import signed_in_page
from tests.exports.conftest import exports_dir, hand  # noqa: F401 - fixtures this test uses
from tests.exports.test_label_source import graded  # noqa: F401

pytestmark = pytest.mark.e2e


def test_researcher_exports_human_else_grader_labels(
    celery_worker: Any,
    live_server: Any,
    personas: Any,
    graded: dict[str, Any],  # noqa: F811
    browser: Any,
) -> None:
    page = signed_in_page(browser, live_server, personas["rita"])
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto("/exports/new/")
    page.check('input[name="campaigns"][value="hand"]')
    page.select_option('select[name="format"]', "trl-preference")
    page.select_option('select[name="label_source"]', "human-else-grader")
    page.select_option('select[name="grader"]', "judge")
    # The preview panel follows the form: its rows by label source come before any run.
    preview = page.locator('#preview table.export-sources tr[data-source="grader"] td.num')
    preview.wait_for()
    page.wait_for_function(
        "() => document.querySelector('#preview tr[data-source=\"grader\"] td.num')"
        "?.textContent === '2'"
    )
    page.click("#export-form button[type=submit]")
    page.wait_for_url("**/exports/*/")
    status = page.locator("#export-status table.export-sources")
    status.wait_for(timeout=60_000)
    assert status.locator('tr[data-source="human"] td.num').inner_text() == "4"
    assert status.locator('tr[data-source="grader"] td.num').inner_text() == "2"
    assert "human-else-grader" in status.locator("thead").inner_text()
    assert page.get_by_text("Grader labels from").count() == 1
    assert problems == []
