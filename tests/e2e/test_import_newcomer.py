"""A newcomer imports in Chromium: XSTest's prompts with no options, the mapping editor and
its table (edited, then from a file), and a file of 30,000 bad rows whose problems stay a
screenful."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.urls import get_resolver

from labeling.campaigns.services import campaign_create
from labeling.models import Prompt
from policy.models import PolicyVersion
from policy.seed import ensure_default_policy
from tests.e2e.conftest import signed_in_page

pytestmark = pytest.mark.e2e

XSTEST_PROMPTS = (
    Path(__file__).resolve().parents[2] / "labeling" / "demo_data" / "xstest" / "xstest_prompts.csv"
)


@pytest.fixture
def campaign(transactional_db: None) -> Any:
    ensure_default_policy()
    get_resolver().url_patterns  # noqa: B018 - import every view before the browser's timeouts
    version = PolicyVersion.objects.order_by("-number").first()
    return campaign_create(name="Newcomer", slug="newcomer", policy_version=version)


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def test_xstest_with_no_options_and_the_mapping_editor(
    browser: Any, live_server: Any, campaign: Any, personas: Any, tmp_path: Path
) -> None:
    page = signed_in_page(browser, live_server, personas["rita"])
    problems = _watch(page)
    page.goto(f"/campaigns/{campaign.slug}/import/prompts/")
    # The mapping editor shows where each type lands, and follows edits.
    page.locator("#xstest-mapping summary").click()
    table = page.locator("#xstest-mapping-table")
    homonyms = table.locator("tr[data-type=homonyms]")
    assert "benign/general" in homonyms.inner_text() and "ok" in homonyms.inner_text()
    editor = page.locator("#id_mapping")
    editor.fill(json.dumps({"category_by_type": {"homonyms": "nowhere/at-all"}}))
    page.wait_for_function(
        "() => document.querySelector('#xstest-mapping-table tr[data-type=homonyms]')"
        ".innerText.includes('unknown category')"
    )
    # A mapping file goes into the editor, and the table follows it.
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text("category_by_type:\n  homonyms: cybersecurity/malware-intrusion\n")
    page.locator("#id_mapping_file").set_input_files(str(mapping_file))
    page.wait_for_function(
        "() => document.querySelector('#xstest-mapping-table tr[data-type=homonyms]')"
        ".innerText.includes('cybersecurity/malware-intrusion')"
    )
    assert "cybersecurity/malware-intrusion" in editor.input_value()
    # Import XSTest's file with nothing else chosen: format and categories come by themselves.
    page.locator("#id_file").set_input_files(str(XSTEST_PROMPTS))
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Imported 450 prompt(s) (xstest)").wait_for()
    assert Prompt.objects.filter(campaign=campaign).count() == 450
    homonym = Prompt.objects.get(campaign=campaign, external_id="1")
    assert homonym.category_path == "cybersecurity/malware-intrusion"
    assert Prompt.objects.get(campaign=campaign, external_id="26").intent == "malicious"
    assert problems == []


def test_thirty_thousand_bad_rows_make_a_short_page(
    browser: Any, live_server: Any, campaign: Any, personas: Any, tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_JOB_THRESHOLD_BYTES = 8 * 1024 * 1024  # in the request (a job shows the same)
    settings.IMPORT_PROBLEMS_DIR = tmp_path / "import-problems"
    rows = []
    for index in range(30_000):
        if index % 3 == 0:
            rows.append(json.dumps({"prompt": f"p{index}", "intent": "benign"}))  # no category
        elif index % 3 == 1:
            rows.append(json.dumps({"prompt": f"p{index}", "category": f"made-up/{index}"}))
        else:
            rows.append(f"broken {index}")
    upload = tmp_path / "bad.jsonl"
    upload.write_text("\n".join(rows) + "\n")
    page = signed_in_page(browser, live_server, personas["rita"])
    problems = _watch(page)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"/campaigns/{campaign.slug}/import/prompts/")
    page.locator("#id_file").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Nothing was imported: 40000 problems").wait_for()
    groups = page.locator("table.problem-groups tbody tr")
    texts = [groups.nth(index).inner_text() for index in range(groups.count())]
    assert any(
        "10000 rows" in text and "pass a default category or a mapping" in text for text in texts
    )
    assert any("malformed JSON" in text for text in texts)
    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height < 3000, height
    # The full list is behind the download.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download every problem").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 1 + 40_000
    assert not Prompt.objects.exists()
    # The failed import's page answers 400 (the browser notes that much), and nothing else.
    assert [p for p in problems if "status of 400" not in p] == []
