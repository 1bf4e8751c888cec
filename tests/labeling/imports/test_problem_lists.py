"""Failed imports with many bad lines: problems grouped by kind (count, first lines), a small
answer on the page and in the API, the full list as a CSV download for the uploader only, kept
for a day, and the commands still printing every problem."""

from __future__ import annotations

import csv
import io
import json
import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from labeling.imports import common
from labeling.imports.common import ImportFailed, ProblemLog
from labeling.imports.prompts import prompt_import
from labeling.models import Prompt
from tests.conftest import make_user

API_PROMPTS = "/api/v1/campaigns/test-campaign/prompts/import/"
BAD_LINES = 20_000
MALFORMED = "malformed JSON: invalid literal, expected 'null': line 1 column 1 (char 0)"
NO_PROMPT = "missing: each line needs prompt or messages"


@pytest.fixture(autouse=True)
def _problem_dir(settings, tmp_path):
    settings.IMPORT_PROBLEMS_DIR = tmp_path / "import-problems"


def _bad_file(count: int = BAD_LINES) -> bytes:
    """Three kinds of bad line in turn: not JSON, an unknown intent (a different one on each
    line), no prompt."""
    lines = []
    for i in range(count):
        if i % 3 == 0:
            lines.append("not json")
        elif i % 3 == 1:
            row = {"prompt": f"p{i}", "category": "benign/general", "intent": f"evil{i}"}
            lines.append(json.dumps(row))
        else:
            lines.append(json.dumps({"category": "benign/general", "intent": "benign"}))
    return ("\n".join(lines) + "\n").encode()


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


def _other_researcher() -> Client:
    client = Client()
    client.force_login(make_user("rhea", "researcher"))
    return client


def _download(response) -> bytes:
    return b"".join(response.streaming_content)


def test_problems_are_kept_in_bounded_memory_with_the_full_list_on_disk(campaign):
    with pytest.raises(ImportFailed) as caught:
        prompt_import(campaign=campaign, source=io.BytesIO(_bad_file()), file_format="jsonl")
    error = caught.value
    assert error.total == BAD_LINES
    assert len(error.problems) == common.PROBLEMS_KEPT
    assert [p.line for p in error.problems[:4]] == [1, 2, 3, 4]
    groups = [(g.field, g.reason, g.count, g.first_lines) for g in error.shown_groups]
    assert groups == [
        ("", MALFORMED, 6667, [1, 4, 7, 10, 13]),
        (
            "intent",
            "unknown intent '…' (benign, dual_use, malicious)",
            6667,
            [2, 5, 8, 11, 14],
        ),
        ("prompt", NO_PROMPT, 6666, [3, 6, 9, 12, 15]),
    ]
    assert error.not_shown == 0
    assert error.full_list is not None
    rows = _csv_rows(error.full_list.read_bytes())
    assert rows[0] == ["line", "field", "reason"]
    assert sorted(int(row[0]) for row in rows[1:]) == list(range(1, BAD_LINES + 1))
    assert rows[2] == ["2", "intent", "unknown intent 'evil1' (benign, dual_use, malicious)"]
    assert sum(1 for _ in error.all_problems()) == BAD_LINES
    error.discard()
    assert not Prompt.objects.filter(campaign=campaign).exists()


def test_groups_stay_a_screenful_and_their_number_bounded():
    log = ProblemLog()
    for line in range(1, 3001):
        # 3,000 kinds of problem, none of them masked into one.
        log.add(line, f"field{line}", "bad")
    with pytest.raises(ImportFailed) as caught:
        log.raise_if_any()
    error = caught.value
    assert len(error.groups.by_kind) == common.PROBLEM_GROUPS_KEPT
    assert error.groups.ungrouped == 3000 - common.PROBLEM_GROUPS_KEPT
    assert len(error.shown_groups) == common.PROBLEM_GROUPS_SHOWN
    assert error.not_shown == 3000 - common.PROBLEM_GROUPS_SHOWN
    error.discard()


def test_api_answers_grouped_problems_and_a_download_for_the_uploader(campaign, client_for):
    rita = client_for("rita")
    response = rita.post(API_PROMPTS, {"file": SimpleUploadedFile("bad.jsonl", _bad_file())})
    assert response.status_code == 400
    assert len(response.content) < 30_000
    body = response.json()
    assert body["detail"] == "Nothing was imported."
    assert body["problem_count"] == BAD_LINES
    assert [(g["field"], g["count"], g["first_lines"]) for g in body["problem_groups"]] == [
        ("", 6667, [1, 4, 7, 10, 13]),
        ("intent", 6667, [2, 5, 8, 11, 14]),
        ("prompt", 6666, [3, 6, 9, 12, 15]),
    ]
    assert body["other_problems"] == 0
    # The documented list stays, capped: the first problems by line.
    assert len(body["problems"]) == 100
    assert body["problems"][0] == {"line": 1, "field": "", "reason": MALFORMED}

    link = body["problems_csv"]
    assert link.startswith("http://testserver/api/v1/campaigns/test-campaign/import-problems/")
    download = rita.get(link)
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    rows = _csv_rows(_download(download))
    assert len(rows) == BAD_LINES + 1
    assert {int(row[0]) for row in rows[1:]} == set(range(1, BAD_LINES + 1))

    assert _other_researcher().get(link).status_code == 404
    assert client_for("alice").get(link).status_code == 404
    assert client_for("anna").get(link).status_code == 403
    assert not Prompt.objects.filter(campaign=campaign).exists()


def test_page_shows_a_screenful_of_groups_and_links_the_full_list(campaign, client_for):
    rita = client_for("rita")
    response = rita.post(
        reverse("labeling:campaign_import_prompts", args=[campaign.slug]),
        {"file": SimpleUploadedFile("bad.jsonl", _bad_file())},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert len(response.content) < 30_000
    assert "Nothing was imported: 20000 problems" in text
    assert "unknown intent &#x27;…&#x27; (benign, dual_use, malicious)" in text
    assert "<td>1, 4, 7, 10, 13, …</td>" in text
    assert "6667" in text and "6666" in text
    link = response.context["download"]
    assert f'href="{link}"' in text
    download = rita.get(link)
    assert download.status_code == 200
    assert len(_csv_rows(_download(download))) == BAD_LINES + 1
    assert _other_researcher().get(link).status_code == 404


def test_a_few_problems_are_listed_and_downloadable_too(campaign, client_for):
    rita = client_for("rita")
    response = rita.post(API_PROMPTS, {"file": SimpleUploadedFile("x.jsonl", b"{bad\n")})
    body = response.json()
    assert body["problem_count"] == 1 and body["problems"][0]["line"] == 1
    rows = _csv_rows(_download(rita.get(body["problems_csv"])))
    assert rows[1][:2] == ["1", ""] and rows[1][2].startswith("malformed JSON")


def test_problem_lists_are_kept_for_a_day(campaign, client_for, settings):
    rita = client_for("rita")
    first = rita.post(API_PROMPTS, {"file": SimpleUploadedFile("x.jsonl", b"{bad\n")})
    link = first.json()["problems_csv"]
    (stored,) = settings.IMPORT_PROBLEMS_DIR.rglob("*.csv")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(stored, (two_days_ago, two_days_ago))
    assert rita.get(link).status_code == 404
    # The next failed import sweeps it away.
    rita.post(API_PROMPTS, {"file": SimpleUploadedFile("x.jsonl", b"{bad\n")})
    assert not stored.exists()
    assert len(list(settings.IMPORT_PROBLEMS_DIR.rglob("*.csv"))) == 1


def test_the_full_list_has_a_ceiling(campaign, monkeypatch):
    # A file of tiny bad lines must not turn into a far larger file of problems.
    monkeypatch.setattr("labeling.imports.common.PROBLEMS_KEPT", 10)
    monkeypatch.setattr("labeling.imports.common.FULL_LIST_MAX_ROWS", 50)
    with pytest.raises(ImportFailed) as caught:
        prompt_import(campaign=campaign, source=io.BytesIO(b"1\n" * 80), file_format="jsonl")
    error = caught.value
    assert error.total == 80 and error.shown_groups[0].count == 80
    rows = _csv_rows(error.full_list.read_bytes())
    assert len(rows) == 1 + 50 + 1
    assert rows[-1] == ["0", "", "and 30 more problem(s), not listed: the list stops at 50"]
    error.discard()


def test_a_full_list_that_cannot_be_written_costs_the_download_not_the_report(
    campaign, client_for, monkeypatch, settings, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.IMPORT_PROBLEMS_DIR = blocker / "import-problems"
    monkeypatch.setattr("labeling.imports.common.PROBLEMS_KEPT", 10)
    response = client_for("rita").post(
        API_PROMPTS, {"file": SimpleUploadedFile("bad.jsonl", _bad_file(30))}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["problem_count"] == 30 and len(body["problems"]) == 10
    assert sum(group["count"] for group in body["problem_groups"]) == 30
    assert body["problems_csv"] is None


def test_a_spreadsheet_formula_in_a_reason_is_defused():
    error = ImportFailed([common.Problem(3, "x", "=HYPERLINK(1)")])
    handle = io.StringIO()
    error.write_csv(handle)
    assert handle.getvalue().splitlines()[1] == "3,x,'=HYPERLINK(1)"


def test_command_prints_every_problem_past_the_memory_cap(
    campaign, tmp_path, capsys, monkeypatch, settings
):
    monkeypatch.setattr("labeling.imports.common.PROBLEMS_KEPT", 10)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(_bad_file(60))
    with pytest.raises(CommandError, match="60 problem"):
        call_command("import_prompts", str(path), campaign=campaign.slug)
    err = capsys.readouterr().err
    assert all(f"line {line}:" in err for line in range(1, 61))
    assert len(err.strip().splitlines()) == 60
    # The full list served stderr and is gone.
    assert not any(settings.IMPORT_PROBLEMS_DIR.rglob("*"))
