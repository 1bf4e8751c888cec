"""Big imports run as jobs on a Celery worker: the request stores the file and answers with the
job (202 and its URL in the API, its progress page on the web); the job imports all or nothing,
shows its progress while it runs, and ends with the report or the grouped problems. A lost
message or a dead worker is sent again by the recovery sweep."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.imports import jobs
from labeling.models import ImportJob, Prompt
from tests.conftest import _purge_broker, make_user, wait_until

API_PROMPTS = "/api/v1/campaigns/test-campaign/prompts/import/"
API_CANDIDATES = "/api/v1/campaigns/test-campaign/candidates/import/"


def _prompt_lines(count: int, *, bad_every: int = 0) -> bytes:
    """``count`` JSONL prompts; with ``bad_every``, every such line has an unknown intent."""
    lines = []
    for i in range(count):
        intent = "evil" if bad_every and i % bad_every == bad_every - 1 else "benign"
        row = {"prompt": f"Prompt number {i}: how do tides work?", "intent": intent}
        lines.append(json.dumps({**row, "category": "benign/general", "external_id": f"e{i}"}))
    return ("\n".join(lines) + "\n").encode()


def _upload(data: bytes, name: str = "prompts.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def data_dir_for_workers(tmp_path, settings, monkeypatch) -> Path:
    """A data folder that worker processes started by the test share with it (they read the
    stored uploads from it)."""
    monkeypatch.setenv("GRAYLAB_DATA_DIR", str(tmp_path))
    settings.IMPORT_UPLOADS_DIR = tmp_path / "import-uploads"
    settings.IMPORT_PROBLEMS_DIR = tmp_path / "import-problems"
    return tmp_path


def _stored_uploads(settings: Any) -> list[Path]:
    folder = Path(settings.IMPORT_UPLOADS_DIR)
    return sorted(folder.iterdir()) if folder.exists() else []


# --- Which uploads become jobs -------------------------------------------------------------


def test_a_small_file_imports_in_the_request(
    campaign, client_for, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 1024**2
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client_for("rita").post(API_PROMPTS, {"file": _upload(_prompt_lines(50))})
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 50
    assert not ImportJob.objects.exists()
    assert not sent


def test_a_file_over_the_threshold_becomes_a_job(
    campaign, client_for, personas, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 4096
    data = _prompt_lines(500)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client_for("rita").post(
            API_PROMPTS, {"file": _upload(data), "default_intent": "benign"}
        )
    assert response.status_code == 202, response.content
    body = response.json()
    job = ImportJob.objects.get()
    assert body["id"] == str(job.id)
    assert body["url"] == f"http://testserver/api/v1/import-jobs/{job.id}/"
    assert response["Location"] == body["url"]
    assert body["status"] == "queued" and body["kind"] == "prompts"
    assert (job.created_by, job.filename, job.upload_bytes) == (
        personas["rita"],
        "prompts.jsonl",
        len(data),
    )
    assert job.options["default_intent"] == "benign"
    assert [path.read_bytes() for path in _stored_uploads(settings)] == [data]
    assert len(sent) == 1  # the run message, published once the job is committed
    assert not Prompt.objects.exists()


def test_a_small_gzip_file_that_expands_past_the_threshold_becomes_a_job(
    campaign, client_for, settings, django_capture_on_commit_callbacks
):
    # The request reads no more than the threshold: it cannot know the expanded size sooner.
    settings.IMPORT_JOB_THRESHOLD_BYTES = 64 * 1024
    data = gzip.compress(_prompt_lines(5000))
    assert len(data) < settings.IMPORT_JOB_THRESHOLD_BYTES
    with django_capture_on_commit_callbacks(execute=False):
        page = client_for("rita").post(
            reverse("labeling:campaign_import_prompts", args=[campaign.slug]),
            {"file": _upload(data, "prompts.jsonl.gz")},
        )
    job = ImportJob.objects.get()
    assert page.status_code == 302
    assert page["Location"] == reverse("labeling:import_job_detail", args=[campaign.slug, job.id])
    assert not Prompt.objects.exists()  # what the request read was rolled back
    assert _stored_uploads(settings)[0].read_bytes() == data  # the whole file, from its start


def test_every_upload_is_a_job_when_the_threshold_is_zero(
    campaign, client_for, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for("rita").post(API_PROMPTS, {"file": _upload(_prompt_lines(1))})
    assert response.status_code == 202


def test_who_may_see_a_job(campaign, client_for, personas, settings):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    job = jobs.import_job_create(
        campaign=campaign,
        kind="prompts",
        upload=_upload(_prompt_lines(3)),
        options=jobs.ImportOptions(),
        user=personas["rita"],
    )
    page = reverse("labeling:import_job_detail", args=[campaign.slug, job.id])
    api = f"/api/v1/import-jobs/{job.id}/"
    rhea = Client()
    rhea.force_login(make_user("rhea", "researcher"))
    assert client_for("rita").get(page).status_code == 200
    assert client_for("alice").get(page).status_code == 200  # admins see every job
    assert rhea.get(page).status_code == 404  # another researcher's job
    assert client_for("anna").get(page).status_code == 403
    assert client_for("rita").get(api).json()["status"] == "queued"
    assert rhea.get(api).status_code == 404
    assert client_for("anna").get(api).status_code == 403
    other = reverse("labeling:import_job_detail", args=["other-campaign", job.id])
    assert client_for("rita").get(other).status_code == 404


# --- The job on a real worker -------------------------------------------------------------


@pytest.mark.worker
def test_a_large_file_imports_as_a_job_with_progress(
    campaign, celery_worker, client_for, settings, monkeypatch
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 64 * 1024
    monkeypatch.setattr(jobs, "PROGRESS_SECONDS", 0.05)
    count = 20_000
    rita = client_for("rita")
    response = rita.post(API_PROMPTS, {"file": _upload(_prompt_lines(count))})
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    seen: list[dict[str, Any]] = []

    def finished() -> bool:
        body = rita.get(url).json()
        seen.append(body)
        return body["status"] in ("succeeded", "failed")

    wait_until(finished, timeout=120, interval=0.01)
    result = seen[-1]
    assert result["status"] == "succeeded", result
    # Progress was visible while the job ran, before the end.
    running = [body for body in seen if body["status"] == "running"]
    assert any(0 < body["lines_read"] < count for body in running), [
        (body["status"], body["lines_read"]) for body in seen
    ]
    assert [body["lines_read"] for body in running] == sorted(b["lines_read"] for b in running)
    assert result["lines_read"] == count and result["imported"] == count
    assert result["report"]["created"] == count and result["report"]["duplicates"] == 0
    assert result["problem_count"] == 0 and result["problems_csv"] is None
    assert Prompt.objects.filter(campaign=campaign).count() == count
    assert _stored_uploads(settings) == []  # the upload is removed once the job ends
    job = ImportJob.objects.get()
    assert job.upload_name == "" and job.attempt == 1
    # The page shows the result.
    page = rita.get(reverse("labeling:import_job_detail", args=[campaign.slug, job.id]))
    assert f"Done: imported {count} prompts" in page.content.decode()


@pytest.mark.worker
def test_a_file_with_bad_lines_fails_the_job_and_imports_nothing(
    campaign, celery_worker, client_for, settings
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    rita = client_for("rita")
    response = rita.post(API_PROMPTS, {"file": _upload(_prompt_lines(3000, bad_every=1000))})
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    wait_until(lambda: rita.get(url).json()["status"] in ("succeeded", "failed"), timeout=60)
    body = rita.get(url).json()
    assert body["status"] == "failed", body
    assert body["error"] == "Nothing was imported."
    assert body["problem_count"] == 3 and body["other_problems"] == 0
    assert body["problems"] == [
        {
            "line": line,
            "field": "intent",
            "reason": "unknown intent 'evil' (benign, dual_use, malicious)",
        }
        for line in (1000, 2000, 3000)
    ]
    assert [(g["field"], g["count"], g["first_lines"]) for g in body["problem_groups"]] == [
        ("intent", 3, [1000, 2000, 3000])
    ]
    assert body["lines_read"] == 3000
    assert not Prompt.objects.exists()  # all or nothing: 2,997 good lines are not kept
    assert _stored_uploads(settings) == []
    # The full list, for the uploader only.
    download = rita.get(body["problems_csv"])
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == ["line", "field", "reason"] and [row[0] for row in rows[1:]] == [
        "1000",
        "2000",
        "3000",
    ]
    assert client_for("alice").get(url).json()["problems_csv"] is None
    # The page shows the same groups and the download.
    job = ImportJob.objects.get()
    page = rita.get(reverse("labeling:import_job_detail", args=[campaign.slug, job.id]))
    text = page.content.decode()
    assert "Nothing was imported: 3 problems" in text
    assert "Download every problem" in text


@pytest.mark.worker
def test_a_candidate_file_imports_as_a_job(
    campaign_with_pairs, celery_worker, client_for, settings
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    rows = [
        {"external_id": f"p{1 + i % 4}", "completion": f"Answer {i}", "source": "model-d"}
        for i in range(40)
    ]
    data = ("\n".join(json.dumps(row) for row in rows) + "\n").encode()
    rita = client_for("rita")
    response = rita.post(API_CANDIDATES, {"file": _upload(data), "format": "jsonl"})
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    wait_until(lambda: rita.get(url).json()["status"] in ("succeeded", "failed"), timeout=60)
    body = rita.get(url).json()
    assert body["status"] == "succeeded", body
    assert body["report"]["candidates_created"] == 40 and body["imported"] == 40
    assert body["report"]["pairs_created"] > 0


# --- Lost messages and dead workers -------------------------------------------------------


@pytest.mark.worker
def test_recover_sends_again_a_job_whose_message_was_lost(
    campaign, worker_process, data_dir_for_workers, client_for, settings
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    rita = client_for("rita")
    response = rita.post(API_PROMPTS, {"file": _upload(_prompt_lines(200))})
    assert response.status_code == 202
    job = ImportJob.objects.get()
    _purge_broker()  # the broker restarted empty: the job's message is gone
    worker_process()
    time.sleep(2)
    job.refresh_from_db()
    assert job.status == "queued"
    # Not stale yet: the sweep leaves it alone; past the stall it is sent once more.
    assert jobs.import_jobs_recover()["resent"] == 0
    ImportJob.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(minutes=5))
    figures = jobs.import_jobs_recover()
    assert (figures["expired"], figures["resent"], figures["unsent"]) == (0, 1, 0)
    assert jobs.import_jobs_recover()["resent"] == 0  # idempotent: sent once per stall
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, timeout=60)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert Prompt.objects.filter(campaign=campaign).count() == 200


@pytest.mark.worker
def test_recover_runs_again_a_job_whose_worker_died(
    campaign, worker_process, data_dir_for_workers, personas, settings
):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    job = jobs.import_job_create(
        campaign=campaign,
        kind="prompts",
        upload=_upload(_prompt_lines(300)),
        options=jobs.ImportOptions(),
        user=personas["rita"],
    )
    _purge_broker()
    # As a worker that claimed the job and died leaves it: running, its heartbeat stopped.
    stopped = timezone.now() - timedelta(minutes=5)
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempt=1, heartbeat_at=stopped)
    assert jobs.import_jobs_recover(stall_seconds=0)["expired"] == 1
    assert ImportJob.objects.get(pk=job.pk).status == "queued"
    worker_process()
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, timeout=60)
    job.refresh_from_db()
    assert (job.status, job.attempt) == ("succeeded", 2)
    assert Prompt.objects.filter(campaign=campaign).count() == 300


def test_a_job_that_stops_its_worker_every_time_fails_in_the_end(campaign, personas, settings):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    job = jobs.import_job_create(
        campaign=campaign,
        kind="prompts",
        upload=_upload(_prompt_lines(10)),
        options=jobs.ImportOptions(),
        user=personas["rita"],
    )
    stopped = timezone.now() - timedelta(minutes=5)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", attempt=jobs.MAX_ATTEMPTS, heartbeat_at=stopped
    )
    assert jobs.import_jobs_recover()["failed"] == 1
    job.refresh_from_db()
    assert job.status == "failed"
    assert "The worker stopped 3 times while importing this file" in job.error
    assert job.upload_name == ""


def test_the_sweep_removes_old_uploads_no_unfinished_job_names(campaign, personas, settings):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    job = jobs.import_job_create(
        campaign=campaign,
        kind="prompts",
        upload=_upload(_prompt_lines(10)),
        options=jobs.ImportOptions(),
        user=personas["rita"],
    )
    folder = Path(settings.IMPORT_UPLOADS_DIR)
    orphan = folder / "left-behind"
    orphan.write_bytes(b"{}")
    two_days_ago = time.time() - 2 * 86400
    for path in (orphan, folder / job.upload_name):
        os.utime(path, (two_days_ago, two_days_ago))
    assert jobs.import_jobs_recover()["orphans_removed"] == 1
    assert _stored_uploads(settings) == [folder / job.upload_name]  # a queued job still needs it


@pytest.mark.django_db(transaction=True)
def test_a_run_that_was_taken_over_keeps_nothing(campaign, personas, settings, monkeypatch):
    """The fence: a worker whose job another attempt took over meanwhile rolls back its rows."""
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    job = jobs.import_job_create(
        campaign=campaign,
        kind="prompts",
        upload=_upload(_prompt_lines(100)),
        options=jobs.ImportOptions(),
        user=personas["rita"],
    )
    _purge_broker()
    original = jobs.import_run
    other_worker = connections.create_connection(DEFAULT_DB_ALIAS)

    def slow_worker(**kwargs: Any) -> Any:
        report = original(**kwargs)
        # Meanwhile the sweep found its heartbeat stopped and another worker claimed it.
        with other_worker.cursor() as cursor:
            cursor.execute("UPDATE labeling_importjob SET attempt = 2 WHERE id = %s", [job.pk])
        return report

    monkeypatch.setattr(jobs, "import_run", slow_worker)
    try:
        jobs.import_job_run(job_id=job.id)
    finally:
        other_worker.close()
    job.refresh_from_db()
    assert (job.status, job.attempt) == ("running", 2)
    assert not Prompt.objects.exists()


def test_a_finished_job_is_not_run_twice(campaign, personas, settings):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    job = jobs.import_job_create(
        campaign=campaign,
        kind="prompts",
        upload=_upload(_prompt_lines(10)),
        options=jobs.ImportOptions(),
        user=personas["rita"],
    )
    assert jobs.import_job_run(job_id=job.id).status == "succeeded"
    again = jobs.import_job_run(job_id=job.id)  # a redelivered message
    assert (again.status, again.attempt) == ("succeeded", 1)
    assert Prompt.objects.count() == 10
