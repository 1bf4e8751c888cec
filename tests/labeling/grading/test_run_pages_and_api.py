"""Grading run pages and API: roles, starting a run from the grader's page and the API, the
polled progress, cancel and resume, and a broker that is down (503, nothing created)."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from labeling.broker import BROKER_UNAVAILABLE
from labeling.grading import runs
from labeling.models import Grade, GradingRun, GradingTask
from tests.conftest import wait_until
from tests.own_services import HAVE_REDIS_SERVER


@pytest.fixture
def queued_run(campaign_with_pairs, grader_version) -> GradingRun:
    # In a test transaction nothing is published: the run stays queued.
    return runs.run_create(campaign=campaign_with_pairs, grader_version=grader_version)


@pytest.mark.parametrize(
    ("who", "code"),
    [("rita", 200), ("alice", 200), ("anna", 403), ("victor", 403), ("nobody", 403)],
)
def test_grading_run_page_and_api_roles(queued_run, client_for, who, code) -> None:
    client = client_for(who)
    assert client.get(reverse("labeling:grading_run_detail", args=[queued_run.pk])).status_code == (
        code
    )
    assert client.get("/api/v1/grading-runs/").status_code == code
    assert client.get(f"/api/v1/grading-runs/{queued_run.pk}/").status_code == code
    for url in (
        reverse("labeling:grading_run_create", args=["safety-judge"]),
        reverse("labeling:grading_run_cancel", args=[queued_run.pk]),
        "/api/v1/grading-runs/",
        f"/api/v1/grading-runs/{queued_run.pk}/cancel/",
    ):
        if code == 403:
            assert client.post(url, {}).status_code == 403
    if code == 403:
        assert GradingRun.objects.get().status == "queued"


def test_the_grader_page_links_its_runs_and_the_run_page_polls(queued_run, client_for) -> None:
    rita = client_for("rita")
    page = rita.get(reverse("labeling:grader_detail", args=["safety-judge"])).content.decode()
    assert 'id="grading-run-form"' in page
    assert reverse("labeling:grading_run_detail", args=[queued_run.pk]) in page
    detail = rita.get(reverse("labeling:grading_run_detail", args=[queued_run.pk]))
    body = detail.content.decode()
    assert "Grading run #" in body and 'hx-trigger="every 1s"' in body
    assert "0 / 0 graded" in body
    partial = rita.get(
        reverse("labeling:grading_run_detail", args=[queued_run.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert partial.lstrip().startswith('<section id="run-progress"')
    cancel = rita.post(reverse("labeling:grading_run_cancel", args=[queued_run.pk]))
    assert cancel.status_code == 302
    queued_run.refresh_from_db()
    assert queued_run.status == "cancelled"
    after = rita.get(reverse("labeling:grading_run_detail", args=[queued_run.pk])).content.decode()
    assert "hx-trigger" not in after and ">Resume</button>" in after and ">Cancel<" not in after


def test_a_run_form_that_grades_nothing_is_refused(grader_version, campaign_with_pairs, client_for):
    rita = client_for("rita")
    response = rita.post(
        reverse("labeling:grading_run_create", args=["safety-judge"]),
        {"campaign": campaign_with_pairs.slug},
    )
    assert response.status_code == 400
    assert "Grade candidates, pairs, or both." in response.content.decode()
    too_many = rita.post(
        reverse("labeling:grading_run_create", args=["safety-judge"]),
        {"campaign": campaign_with_pairs.slug, "pairs": "on", "limit": str(2**31)},
    )
    assert too_many.status_code == 400
    answer = rita.post(
        "/api/v1/grading-runs/",
        {
            "campaign": campaign_with_pairs.slug,
            "grader": "safety-judge",
            "candidates": False,
            "pairs": False,
        },
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.json() == {"candidates": ["Grade candidates, pairs, or both."]}
    unknown = rita.post(
        "/api/v1/grading-runs/",
        {"campaign": campaign_with_pairs.slug, "grader": "nobody-judge"},
        content_type="application/json",
    )
    assert unknown.json() == {"grader": ["No grader is named 'nobody-judge'."]}
    assert not GradingRun.objects.exists()


@pytest.mark.worker
def test_a_run_from_the_page_and_one_from_the_api_grade_and_report_progress(
    campaign_with_pairs, grader_version, celery_worker, offline_server, client_for
) -> None:
    rita = client_for("rita")
    response = rita.post(
        reverse("labeling:grading_run_create", args=["safety-judge"]),
        {"campaign": campaign_with_pairs.slug, "candidates": "on", "limit": "4"},
    )
    assert response.status_code == 302
    run = GradingRun.objects.get()
    assert response["Location"] == reverse("labeling:grading_run_detail", args=[run.pk])
    assert (run.candidates, run.pairs, run.limit, run.created_by.username) == (
        True,
        False,
        4,
        "rita",
    )
    wait_until(lambda: not GradingRun.objects.get(pk=run.pk).is_active, timeout=60)
    body = rita.get(response["Location"]).content.decode()
    assert "4 / 4 graded" in body and "Completed" in body

    created = rita.post(
        "/api/v1/grading-runs/",
        {"campaign": campaign_with_pairs.slug, "grader": "safety-judge", "candidates": False},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["grader"], data["grader_version"], data["campaign"]) == (
        "safety-judge",
        1,
        campaign_with_pairs.slug,
    )
    assert (data["candidates"], data["pairs"], data["status"]) == (False, True, "queued")
    url = f"/api/v1/grading-runs/{data['id']}/"

    def finished() -> bool:
        runs.run_recover(run_id=data["id"])
        return rita.get(url).json()["status"] == "completed"

    wait_until(finished, timeout=60, interval=0.3)
    final = rita.get(url).json()
    assert (final["planned"], final["graded"], final["failed"]) == (24, 24, 0)
    assert final["progress"]["finished"] == 24 and final["progress"]["by_status"]["done"] == 24
    assert final["progress"]["errors_by_kind"] == {}
    assert final["prompt_tokens"] > 0
    assert Grade.objects.filter(kind="pair").count() == 24
    listed = rita.get("/api/v1/grading-runs/").json()
    assert [item["id"] for item in listed] == [data["id"], run.pk]


@pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server")
@pytest.mark.django_db(transaction=True)
def test_a_grading_run_is_refused_while_the_broker_is_down(
    own_broker, campaign_with_pairs, grader_version, client_for
) -> None:
    rita = client_for("rita")
    own_broker.stop()
    started = time.monotonic()
    answer = rita.post(
        "/api/v1/grading-runs/",
        {"campaign": campaign_with_pairs.slug, "grader": "safety-judge"},
        content_type="application/json",
    )
    assert time.monotonic() - started < 10
    assert answer.status_code == 503, answer.content
    assert answer.json() == {"detail": BROKER_UNAVAILABLE}
    assert int(answer["Retry-After"]) > 0
    page = rita.post(
        reverse("labeling:grading_run_create", args=["safety-judge"]),
        {"campaign": campaign_with_pairs.slug, "candidates": "on", "pairs": "on"},
    )
    assert page.status_code == 503
    assert "The task broker is unavailable" in page.content.decode()
    assert not GradingRun.objects.exists() and not GradingTask.objects.exists()

    own_broker.start()
    again = rita.post(
        "/api/v1/grading-runs/",
        {"campaign": campaign_with_pairs.slug, "grader": "safety-judge"},
        content_type="application/json",
    )
    assert again.status_code == 201, again.content
    assert GradingRun.objects.get().status == "queued"
