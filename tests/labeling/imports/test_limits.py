"""Import size limits: the upload, the file once decompressed, one line; and files that claim
to be gzip but are not. Every limit is checked while the file streams in, answers 413 (size) or
400 (a line) naming the limit and its setting, and leaves nothing imported."""

from __future__ import annotations

import gzip
import io
import json
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from django.urls import reverse

from labeling.imports.candidates import candidate_import
from labeling.imports.common import ImportFailed, ImportTooLarge
from labeling.imports.prompts import prompt_import
from labeling.imports.uploads import UploadLimitHandler
from labeling.models import Candidate, Prompt
from tests.config.test_settings import start

API_PROMPTS = "/api/v1/campaigns/test-campaign/prompts/import/"
API_CANDIDATES = "/api/v1/campaigns/test-campaign/candidates/import/"
BOMB_EXPANDED = 50 * 1024**2
LINE = (
    json.dumps({"prompt": "0" * 1000, "category": "benign/general", "intent": "benign"}) + "\n"
).encode()


@pytest.fixture(autouse=True)
def _problem_dir(settings, tmp_path):
    settings.IMPORT_PROBLEMS_DIR = tmp_path / "import-problems"


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A small .jsonl.gz that expands to 50 MiB of JSON lines."""
    block = LINE * (1024**2 // len(LINE))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6) as out:
        for _ in range(BOMB_EXPANDED // len(block)):
            out.write(block)
    data = buffer.getvalue()
    assert len(data) < 1024**2  # a bomb: a small upload, a large file
    return data


@pytest.fixture
def small_expanded_limit(settings):
    settings.IMPORT_MAX_EXPANDED_BYTES = 1024**2
    return settings.IMPORT_MAX_EXPANDED_BYTES


def test_gzip_bomb_stops_at_the_expanded_limit(campaign, bomb, small_expanded_limit):
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ImportTooLarge) as caught:
            prompt_import(campaign=campaign, source=io.BytesIO(bomb), filename="bomb.jsonl.gz")
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "IMPORT_MAX_EXPANDED_BYTES" in message and "1 MiB (1,048,576 bytes)" in message
    assert "decompressed" in message
    assert caught.value.limit == small_expanded_limit
    # Stopped at the limit: a fraction of the 50 MiB read, in bounded memory.
    assert elapsed < 5
    assert peak < 32 * 1024**2
    assert not Prompt.objects.filter(campaign=campaign).exists()


def test_the_limit_stops_an_import_that_is_already_writing(campaign, settings, monkeypatch):
    # Rows of the first batches are already in the database (a COPY open) when the limit is
    # met: they are rolled back, and the connection is fine for the next import.
    monkeypatch.setattr("labeling.imports.prompts.BATCH_SIZE", 100)
    rows = [
        json.dumps({"prompt": f"p{i}", "category": "benign/general", "intent": "benign"})
        for i in range(2000)
    ]
    data = ("\n".join(rows) + "\n").encode()
    settings.IMPORT_MAX_EXPANDED_BYTES = len(data) // 2
    with pytest.raises(ImportTooLarge):
        prompt_import(campaign=campaign, source=io.BytesIO(data), file_format="jsonl")
    assert not Prompt.objects.filter(campaign=campaign).exists()
    settings.IMPORT_MAX_EXPANDED_BYTES = len(data)
    report = prompt_import(campaign=campaign, source=io.BytesIO(data), file_format="jsonl")
    assert report.created == 2000


def test_a_file_of_exactly_the_limit_is_accepted(campaign, settings):
    data = LINE * 3
    settings.IMPORT_MAX_EXPANDED_BYTES = len(data)
    report = prompt_import(campaign=campaign, source=io.BytesIO(data), file_format="jsonl")
    assert report.lines == 3
    settings.IMPORT_MAX_EXPANDED_BYTES = len(data) - 1
    with pytest.raises(ImportTooLarge, match="The file is larger"):
        prompt_import(campaign=campaign, source=io.BytesIO(data), file_format="jsonl")


def test_gzip_bomb_through_the_api_page_and_command(
    campaign, client_for, bomb, small_expanded_limit, tmp_path, settings, monkeypatch
):
    rita = client_for("rita")
    started = time.monotonic()
    response = rita.post(API_PROMPTS, {"file": SimpleUploadedFile("bomb.jsonl.gz", bomb)})
    assert time.monotonic() - started < 5
    assert response.status_code == 413
    assert set(response.json()) == {"detail"}
    assert "IMPORT_MAX_EXPANDED_BYTES" in response.json()["detail"]

    page = rita.post(
        reverse("labeling:campaign_import_prompts", args=[campaign.slug]),
        {"file": SimpleUploadedFile("bomb.jsonl.gz", bomb)},
    )
    assert page.status_code == 413
    assert "IMPORT_MAX_EXPANDED_BYTES" in page.content.decode()

    monkeypatch.setattr("labeling.imports.common.PROBLEMS_KEPT", 10)  # they spill to a file
    hh = rita.post(
        API_CANDIDATES,
        {"file": SimpleUploadedFile("bomb.jsonl.gz", bomb), "format": "hh-rlhf"},
    )
    assert hh.status_code == 413
    # The problems collected before the limit (every line, here) left no file behind.
    assert not any(settings.IMPORT_PROBLEMS_DIR.rglob("*"))

    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(bomb)
    with pytest.raises(CommandError, match="IMPORT_MAX_EXPANDED_BYTES"):
        call_command(
            "import_prompts",
            str(path),
            campaign=campaign.slug,
            default_category="benign/general",
            default_intent="benign",
        )
    assert not Prompt.objects.filter(campaign=campaign).exists()
    assert not Candidate.objects.exists()


def test_a_line_over_the_line_limit_is_named(campaign, client_for, settings):
    settings.IMPORT_MAX_LINE_BYTES = 1000
    good = json.dumps({"prompt": "fine", "category": "benign/general", "intent": "benign"})
    long = json.dumps({"prompt": "x" * 5000, "category": "benign/general", "intent": "benign"})
    data = f"{good}\n{long}\n{good.replace('fine', 'also fine')}\n".encode()
    response = client_for("rita").post(
        API_PROMPTS, {"file": SimpleUploadedFile("long.jsonl", data)}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Nothing was imported."
    assert body["problems"] == [
        {
            "line": 2,
            "field": "",
            "reason": "longer than the line limit of 1,000 bytes, set by IMPORT_MAX_LINE_BYTES",
        }
    ]
    # CSV too, where a quoted field may span lines: bounded by the same limit.
    csv_data = b'prompt\nshort\n"' + b"y" * 5000 + b'"\n'
    with pytest.raises(ImportFailed) as caught:
        prompt_import(
            campaign=campaign,
            source=io.BytesIO(csv_data),
            file_format="csv",
            default_category="benign/general",
            default_intent="benign",
        )
    assert [(p.line, "IMPORT_MAX_LINE_BYTES" in p.reason) for p in caught.value.problems] == [
        (3, True)
    ]
    multi_line = b'prompt\n"' + b"z\n" * 1000 + b'"\n'
    with pytest.raises(ImportFailed, match="bad line"):
        prompt_import(
            campaign=campaign,
            source=io.BytesIO(multi_line),
            file_format="csv",
            default_category="benign/general",
            default_intent="benign",
        )
    assert not Prompt.objects.filter(campaign=campaign).exists()


def test_an_upload_over_the_upload_limit_is_refused_unread(campaign, client_for, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10_000
    data = LINE * 20  # about 20 kB
    rita = client_for("rita")
    response = rita.post(API_PROMPTS, {"file": SimpleUploadedFile("big.jsonl", data)})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The upload is larger than the limit of 9.766 KiB (10,000 bytes), set by "
        "IMPORT_MAX_UPLOAD_BYTES; nothing was imported."
    }
    page = rita.post(
        reverse("labeling:campaign_import_candidates", args=[campaign.slug]),
        {"file": SimpleUploadedFile("big.jsonl", data), "format": "jsonl"},
    )
    assert page.status_code == 413 and "IMPORT_MAX_UPLOAD_BYTES" in page.content.decode()
    assert not Prompt.objects.filter(campaign=campaign).exists()
    # Under the limit, the same file is imported.
    settings.IMPORT_MAX_UPLOAD_BYTES = 100_000
    response = rita.post(API_PROMPTS, {"file": SimpleUploadedFile("big.jsonl", data)})
    assert response.status_code == 201 and response.json()["created"] == 1


def test_the_upload_handler_stops_a_body_as_it_arrives():
    # A body whose length is not declared (a chunked upload) is counted as it is parsed, and
    # parsing stops once the file data passes the limit.
    request = RequestFactory().post("/x", {"file": SimpleUploadedFile("big.jsonl", b"a" * 500_000)})
    handler = UploadLimitHandler(request, 20_000)
    with pytest.raises(ImportTooLarge, match="IMPORT_MAX_UPLOAD_BYTES"):
        handler.handle_raw_input(None, request.META, 20_001, b"")
    handler.handle_raw_input = lambda *args, **kwargs: None  # as if no length were declared
    request.upload_handlers.insert(0, handler)
    with pytest.raises(ImportTooLarge, match="IMPORT_MAX_UPLOAD_BYTES"):
        request.FILES  # noqa: B018
    # Stopped at the first chunk over the limit (64 KiB chunks): the rest was never read.
    assert 20_000 < handler.received <= 65_536


def test_a_fake_gz_says_not_gzip(campaign, client_for, tmp_path):
    data = LINE * 2
    response = client_for("rita").post(
        API_PROMPTS, {"file": SimpleUploadedFile("prompts.jsonl.gz", data)}
    )
    assert response.status_code == 400
    (problem,) = response.json()["problems"]
    assert problem["line"] == 0 and problem["reason"].startswith("not gzip:")
    path = tmp_path / "prompts.jsonl.gz"
    path.write_bytes(data)
    with pytest.raises(ImportFailed) as caught:
        prompt_import(campaign=campaign, source=path)
    assert caught.value.problems[0].reason.startswith("not gzip:")
    with pytest.raises(ImportFailed) as caught:
        candidate_import(
            campaign=campaign, source=io.BytesIO(data), filename="x.jsonl.gz", file_format="jsonl"
        )
    assert caught.value.problems[0].reason.startswith("not gzip:")
    # Gzip's signature but not a gzip stream, and a cut-short one: "not gzip, or damaged".
    for broken in (b"\x1f\x8b" + b"garbage" * 10, gzip.compress(data)[:-12]):
        with pytest.raises(ImportFailed) as caught:
            prompt_import(campaign=campaign, source=io.BytesIO(broken), file_format="jsonl")
        assert "not gzip, or a damaged gzip file" in caught.value.problems[-1].reason
    assert not Prompt.objects.filter(campaign=campaign).exists()


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("IMPORT_MAX_UPLOAD_BYTES", "0", "must be a positive number of bytes"),
        ("IMPORT_MAX_EXPANDED_BYTES", "lots", "Not a valid integer"),
        ("IMPORT_MAX_LINE_BYTES", str(2 * 1024**3), "must not be larger than"),
    ],
)
def test_bad_limits_stop_start_up_naming_the_variable(variable, value, reason):
    result = start({variable: value})
    assert result.returncode != 0
    assert variable in result.stderr and reason in result.stderr
