"""A researcher estimates learnability from the export form, runs the export and reads its
learnability report on the export page once a worker has computed it (Playwright + Chromium,
a real worker)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import signed_in_page
from tests.exports.conftest import exports_dir  # noqa: F401 - fixtures this test uses
from tests.exports.learnability_data import planted_campaign

pytestmark = pytest.mark.e2e


def test_researcher_reads_the_learnability_report(
    celery_worker: Any, live_server: Any, personas: Any, browser: Any
) -> None:
    planted_campaign("learnable", pairs=240, rule="keyword")
    page = signed_in_page(browser, live_server, personas["rita"])
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto("/exports/new/")
    page.check('input[name="campaigns"][value="learnable"]')
    page.select_option('select[name="format"]', "trl-preference")
    for source in ("raw", "review"):
        page.uncheck(f'input[name="label_sources"][value="{source}"]')
    page.check('input[name="label_sources"][value="prior"]')
    page.fill('input[name="train"]', "0.5")
    page.fill('input[name="validation"]', "0.25")
    page.fill('input[name="test"]', "0.25")
    page.fill('input[name="seed"]', "11")

    # On demand from the preview: computed by the worker, shown when the polling finds it.
    page.click("#learnability-estimate button")
    estimate = page.locator("#learnability-estimate table.learnability-splits")
    estimate.wait_for(timeout=120_000)
    assert estimate.locator('tr[data-split="test"] td.learnability-accuracy').inner_text()

    page.click("#export-form button[type=submit]")
    page.wait_for_url("**/exports/*/")
    report = page.locator("#export-learnability table.learnability-splits")
    report.wait_for(timeout=120_000)
    for split in ("validation", "test"):
        accuracy = report.locator(f'tr[data-split="{split}"] td.learnability-accuracy')
        assert float(accuracy.inner_text().rstrip("%")) >= 90.0
        length = report.locator(f'tr[data-split="{split}"] td.learnability-length')
        assert float(length.inner_text().rstrip("%")) < 75.0
    assert page.locator("#export-learnability .learnability-computing").count() == 0
    assert page.locator("#export-learnability").get_by_text("By category").count() == 1
    assert problems == []
