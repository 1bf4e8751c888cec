"""The consensus API: start a computation, read the latest run, a run by id, a campaign's runs."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.test import Client

from labeling.broker import BROKER_UNAVAILABLE
from labeling.models import ConsensusRun
from labeling.quality import consensus as consensus_module
from labeling.quality.consensus import (
    CONSENSUS_FIELDS,
    FIELD_DOMAINS,
    LOW_QUALITY,
    REVIEW_FLAGS_MAX,
)
from policy.rubric import PREFERENCE_FIELD, SEVERITY_FIELD
from tests.own_services import HAVE_REDIS_SERVER, OwnRedis

from .conftest import Builder
from .test_consensus import rated  # noqa: F401  (the fixture)


def runs_url(slug: str) -> str:
    return f"/api/v1/quality/campaigns/{slug}/consensus/"


def by_field(body: dict) -> dict[str, dict]:
    return {row["field"]: row for row in body["results"]}


def test_a_small_campaign_is_computed_in_the_request(build: Builder, rated, client_for) -> None:  # noqa: F811
    slug = build.campaign.slug
    client = client_for("rita")
    assert client.get(f"{runs_url(slug)}latest/").status_code == 404
    answer = client.post(runs_url(slug))
    assert answer.status_code == 201, answer.content
    body = answer.json()
    run = ConsensusRun.objects.get()
    assert body["id"] == run.pk and body["status"] == "done" and body["campaign"] == slug
    assert body["requested_by"] == "rita" and body["computed_at"] is not None
    assert answer["Location"] == f"/api/v1/quality/consensus-runs/{run.pk}/"
    results = by_field(body)
    assert list(results) == list(CONSENSUS_FIELDS)
    labels = run.labels
    for name, row in results.items():
        assert row["problem"] is None
        # The distribution lists every value of the field and counts the stored labels.
        assert list(row["distribution"]) == [str(value) for value in FIELD_DOMAINS[name]]
        stored = Counter(entry[0] for entry in labels[name].values())
        assert row["distribution"] == {str(v): stored.get(str(v), 0) for v in FIELD_DOMAINS[name]}
        assert sum(row["distribution"].values()) == row["items"]
        qualities = [entry[1] for entry in labels[name].values()]
        assert row["quality"]["min"] == pytest.approx(min(qualities))
        assert row["quality"]["low_quality_threshold"] == LOW_QUALITY
        assert row["quality"]["low_quality_items"] == sum(q < LOW_QUALITY for q in qualities)
    assert results[SEVERITY_FIELD]["items"] == 40 and results[PREFERENCE_FIELD]["items"] == 20
    # Every pair has a direction (-2, -1, 1, 2 cycle: half prefer A, half B).
    assert results[PREFERENCE_FIELD]["distribution"] == {"a": 10, "tie": 0, "b": 10}
    raters = {row["rater"]: row for row in body["raters"]}
    assert set(raters) == {"rater1", "rater2", "rater3", "rater4"}
    assert raters["rater4"]["reliability"][SEVERITY_FIELD] < min(
        raters[f"rater{i}"]["reliability"][SEVERITY_FIELD] for i in (1, 2, 3)
    )
    assert raters["rater1"]["items"][SEVERITY_FIELD] == 40
    # The four pairs rater4 got wrong went to the review queue.
    assert body["review"] == {
        "flagged_pairs": 4,
        "sent": 4,
        "over_cap": 0,
        "cap": REVIEW_FLAGS_MAX,
        "added": 4,
    }
    # The same run, read as the latest, by id, and in the campaign's list.
    assert client.get(f"{runs_url(slug)}latest/").json() == body
    assert client.get(answer["Location"]).json() == body
    listed = client.get(runs_url(slug)).json()
    assert [row["id"] for row in listed] == [run.pk]
    assert "results" not in listed[0]


def test_too_few_raters_give_the_pages_reason(build: Builder, annotators, client_for) -> None:
    prompt = build.prompt()
    build.judge(build.pair(build.candidate(prompt), build.candidate(prompt)), annotators[0])
    answer = client_for("alice").post(runs_url(build.campaign.slug))
    assert answer.status_code == 201
    body = answer.json()
    severity = by_field(body)[SEVERITY_FIELD]
    assert severity["problem"] == (
        "severity: every item has fewer than 2 raters (2 items, one rater each); a consensus "
        "model needs at least 2 raters per item"
    )
    assert severity["items"] == 0 and severity["single_rater_items"] == 2
    assert set(severity["distribution"].values()) == {0}
    assert severity["quality"]["mean"] is None and body["raters"] == []
    page = client_for("rita").get(f"/quality/campaigns/{build.campaign.slug}/").content.decode()
    assert severity["problem"] in page


def test_roles(build: Builder, rated, client_for) -> None:  # noqa: F811
    slug = build.campaign.slug
    for name in ("victor", "anna", "nobody"):
        assert client_for(name).post(runs_url(slug)).status_code == 403, name
    assert ConsensusRun.objects.count() == 0
    assert client_for("alice").post(runs_url(slug)).status_code == 201
    run = ConsensusRun.objects.get()
    reads = (
        runs_url(slug),
        f"{runs_url(slug)}latest/",
        f"/api/v1/quality/consensus-runs/{run.pk}/",
    )
    for url in reads:
        for name in ("alice", "rita", "victor"):
            assert client_for(name).get(url).status_code == 200, (name, url)
        for name in ("anna", "nobody"):
            assert client_for(name).get(url).status_code == 403, (name, url)
        assert Client().get(url).status_code in (401, 403)
    assert Client().post(runs_url(slug)).status_code in (401, 403)
    assert client_for("rita").get(runs_url("no-such-campaign")).status_code == 404
    missing = client_for("rita").get(f"/api/v1/quality/consensus-runs/{run.pk + 1}/")
    assert missing.status_code == 404 and missing.json() == {"detail": "No such consensus run."}


@pytest.mark.django_db(transaction=True)
def test_a_large_campaign_is_queued_and_a_worker_computes_it(
    build: Builder,
    rated,  # noqa: F811
    client_for,
    celery_worker,
    monkeypatch,
) -> None:
    # 80 judgments: one more than the request computes itself.
    monkeypatch.setattr(consensus_module, "LIVE_JUDGMENTS_MAX", 79)
    client = client_for("rita")
    answer = client.post(runs_url(build.campaign.slug))
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "queued" and body["results"] == [] and body["review"] is None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(answer["Location"]).json()
        if body["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert body["status"] == "done", body["error"]
    assert by_field(body)[SEVERITY_FIELD]["items"] == 40
    assert body["review"] == {
        "flagged_pairs": 4,
        "sent": 4,
        "over_cap": 0,
        "cap": REVIEW_FLAGS_MAX,
        "added": 4,
    }
    latest = client.get(f"{runs_url(build.campaign.slug)}latest/").json()
    assert latest["id"] == body["id"]


@pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server")
@pytest.mark.django_db(transaction=True)
def test_a_large_campaign_asked_while_the_broker_is_down_gets_503_and_leaves_nothing(
    build: Builder,
    rated,  # noqa: F811
    client_for,
    own_broker: OwnRedis,
    monkeypatch,
) -> None:
    monkeypatch.setattr(consensus_module, "LIVE_JUDGMENTS_MAX", 79)
    client = client_for("rita")
    own_broker.stop()
    started = time.monotonic()
    refused = client.post(runs_url(build.campaign.slug))
    assert refused.status_code == 503, refused.content
    assert refused.json() == {"detail": BROKER_UNAVAILABLE}
    assert int(refused["Retry-After"]) > 0
    assert time.monotonic() - started < 10
    # No queued run is left to stand in for the next request.
    assert not ConsensusRun.objects.exists()
    page = client.post(f"/quality/campaigns/{build.campaign.slug}/consensus/", follow=True)
    assert BROKER_UNAVAILABLE in page.content.decode()
    assert not ConsensusRun.objects.exists()

    own_broker.start()
    queued = client.post(runs_url(build.campaign.slug))
    assert queued.status_code == 202, queued.content
    assert ConsensusRun.objects.get().status == ConsensusRun.Status.QUEUED
