"""Consensus labels (Dawid–Skene), rater reliabilities and likely label errors."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene
from django.core.management import call_command
from django.test import Client

from labeling.models import ConsensusRun, ReviewRequest
from labeling.quality import consensus as consensus_module
from labeling.quality.consensus import (
    EM_ITERATIONS,
    EM_TOLERANCE,
    FLAG_CONFIDENCE,
    REASON,
    field_consensus,
    latest_consensus,
)
from labeling.quality.review import review_queue, review_record
from policy.rubric import PREFERENCE_FIELD, RESPONSE_MODE_FIELD, SEVERITY_FIELD

from .conftest import Builder

SEVERITIES = ("none", "negligible", "low", "moderate", "high")


def planted(accuracies: list[float], *, items: int, per_item: int, seed: int):
    """Items with a true severity; each rated by ``per_item`` of the raters, each rater right
    with their accuracy and otherwise uniformly wrong."""
    rng = np.random.default_rng(seed)
    truth = {unit: SEVERITIES[rng.integers(0, len(SEVERITIES))] for unit in range(items)}
    ratings: dict[int, dict[str, str]] = {}
    for unit, true in truth.items():
        chosen = rng.choice(len(accuracies), size=per_item, replace=False)
        ratings[unit] = {}
        for rater in chosen:
            if rng.random() < accuracies[rater]:
                value = true
            else:
                value = [s for s in SEVERITIES if s != true][rng.integers(0, 4)]
            ratings[unit][f"rater{rater}"] = value
    return truth, ratings


def test_consensus_equals_the_library_called_directly() -> None:
    _, ratings = planted([0.9, 0.8, 0.7, 0.6], items=120, per_item=3, seed=3)
    result = field_consensus(SEVERITY_FIELD, ratings)
    frame = pd.DataFrame(
        [(u, r, v) for u, raters in ratings.items() for r, v in raters.items()],
        columns=["task", "worker", "label"],
    )
    model = DawidSkene(n_iter=EM_ITERATIONS, tol=EM_TOLERANCE).fit(frame)
    for unit, (value, quality, _) in result.labels.items():
        assert value == model.labels_[unit]
        assert quality == pytest.approx(float(model.probas_.loc[unit].max()), abs=1e-6)
    for rater, reliability in result.raters.items():
        errors = model.errors_.loc[rater]
        expected = sum(
            model.priors_[value] * errors.loc[value, value]
            for value in model.priors_.index
            if value in errors.index
        )
        assert reliability == pytest.approx(expected)


def test_planted_raters_rank_in_their_true_order_and_beat_majority() -> None:
    accuracies = [0.95, 0.9, 0.8, 0.65, 0.2]  # the last answers at random among five values
    truth, ratings = planted(accuracies, items=400, per_item=3, seed=7)
    result = field_consensus(SEVERITY_FIELD, ratings)
    order = sorted(result.raters, key=lambda rater: -result.raters[rater])
    assert order == [f"rater{index}" for index in range(5)]
    consensus = np.mean([result.labels[u][0] == truth[u] for u in truth])
    majority = np.mean([result.labels[u][2] == truth[u] for u in truth])
    assert consensus > majority


def test_too_few_raters_and_a_field_nobody_rated_say_so() -> None:
    single = field_consensus(SEVERITY_FIELD, {1: {"ann": "low"}, 2: {"ann": "none"}})
    assert single.problem is not None and "fewer than 2 raters" in single.problem
    assert single.labels == {} and single.raters == {}
    empty = field_consensus(PREFERENCE_FIELD, {})
    assert empty.problem == "nobody rated preference: there is nothing to model"


@pytest.fixture
def rated(build: Builder, annotators):
    """Twenty pairs judged by three careful annotators and one (rater4) who agrees with them
    except on every fifth pair, where they call B's side high and prefer A. Returns the
    pairs rater4 got wrong first, then the rest."""
    modes = ("hard_refusal", "safe_completion", "direct_answer", "refusal_with_redirection")
    levels = ("none", "negligible", "low", "moderate")
    wrong, right = [], []
    for index in range(20):
        prompt = build.prompt()
        pair = build.pair(build.candidate(prompt), build.candidate(prompt))
        a = (modes[index % 4], levels[(index + 1) % 4], 2)
        b = (modes[(index + 2) % 4], levels[index % 4], 3)
        preference = (-2, -1, 1, 2)[index % 4]
        for careful in annotators[:3]:
            build.judge(pair, careful, a=a, b=b, preference=preference)
        if index % 5 == 0:
            build.judge(pair, annotators[3], a=a, b=(b[0], "high", 3), preference=-preference)
            wrong.append(pair)
        else:
            build.judge(pair, annotators[3], a=a, b=b, preference=preference)
            right.append(pair)
    return wrong + right


def test_likely_label_errors_enter_the_review_queue_with_evidence(build: Builder, rated) -> None:
    run = consensus_module.consensus_request(campaign=build.campaign)
    assert run.status == ConsensusRun.Status.DONE
    severity = run.summary[SEVERITY_FIELD]
    reliabilities = {row["rater"]: row["reliability"] for row in severity["raters"]}
    assert reliabilities["rater4"] < min(reliabilities[f"rater{i}"] for i in (1, 2, 3))
    requests = ReviewRequest.objects.filter(source=ReviewRequest.Source.CONSENSUS)
    assert {request.pair_id for request in requests} == {pair.pk for pair in rated[:4]}
    request = requests.get(pair=rated[0])
    assert request.reason.startswith(f"{REASON}: ")
    flags = request.evidence["flags"]
    by_field = {(flag["field"], flag["rater"]) for flag in flags}
    assert (SEVERITY_FIELD, "rater4") in by_field
    assert (PREFERENCE_FIELD, "rater4") in by_field
    severity_flag = next(f for f in flags if f["field"] == SEVERITY_FIELD)
    assert severity_flag["value"] == "high" and severity_flag["consensus"] == "none"
    assert severity_flag["rater"] == "rater4"
    assert severity_flag["candidate"] == rated[0].candidate_b_id and severity_flag["side"] == "B"
    assert severity_flag["confidence"] >= FLAG_CONFIDENCE
    assert request.score == max(flag["confidence"] for flag in flags)
    queue = review_queue(campaign=build.campaign)
    listed = [item for item in queue["items"] if any(REASON in r for r in item["reasons"])]
    assert len(listed) == 4
    # Computing again sends nothing twice.
    again = consensus_module.consensus_request(campaign=build.campaign)
    assert again.summary["review"]["added"] == 0
    assert requests.count() == 4


def test_a_reviewers_resolution_feeds_back(build: Builder, rated, personas) -> None:
    consensus_module.consensus_request(campaign=build.campaign)
    pair = rated[0]
    # The reviewer sides with rater4 on this pair: the consensus follows the review.
    review_record(
        pair=pair,
        reviewer=personas["victor"],
        resolution="labels",
        final_labels={
            "a": {"response_mode": "hard_refusal", "severity": "low", "helpfulness": 2},
            "b": {"response_mode": "direct_answer", "severity": "high", "helpfulness": 3},
            "preference": 2,
        },
    )
    run = consensus_module.consensus_request(campaign=build.campaign)
    labels = latest_consensus(build.campaign, with_labels=True).labels
    assert run.pk == latest_consensus(build.campaign).pk
    assert labels[SEVERITY_FIELD][str(pair.candidate_b_id)][:2] == ["high", 1.0]
    assert labels[RESPONSE_MODE_FIELD][str(pair.candidate_b_id)][:2] == ["direct_answer", 1.0]
    assert labels[PREFERENCE_FIELD][str(pair.pk)][:2] == ["b", 1.0]
    # The review left the pair's request closed; the others stay in the queue.
    queue = review_queue(campaign=build.campaign)
    assert pair.pk not in {item["pair_id"] for item in queue["items"]}


def test_command_prints_per_field_and_json(build: Builder, rated) -> None:
    out = StringIO()
    call_command("consensus", "--campaign", build.campaign.slug, stdout=out)
    text = out.getvalue()
    assert "severity: 40 items" in text and "rater4" in text and "flagged" in text
    out = StringIO()
    call_command("consensus", "--campaign", build.campaign.slug, "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload[SEVERITY_FIELD]["items"] == 40
    assert {row["rater"] for row in payload[PREFERENCE_FIELD]["raters"]} == {
        "rater1",
        "rater2",
        "rater3",
        "rater4",
    }


def test_command_says_when_there_are_too_few_raters(build: Builder, annotators) -> None:
    prompt = build.prompt()
    build.judge(build.pair(build.candidate(prompt), build.candidate(prompt)), annotators[0])
    out = StringIO()
    call_command("consensus", "--campaign", build.campaign.slug, stdout=out)
    text = out.getvalue()
    assert "severity: every item has fewer than 2 raters" in text
    assert "reliability" not in text


def test_quality_page_computes_and_shows_reliabilities(build: Builder, rated, personas) -> None:
    url = f"/quality/campaigns/{build.campaign.slug}/consensus/"
    for name, allowed in (("rita", True), ("alice", True), ("victor", False), ("anna", False)):
        client = Client()
        client.force_login(personas[name])
        answer = client.post(url)
        assert answer.status_code == (302 if allowed else 403), name
    client = Client()
    client.force_login(personas["victor"])
    page = client.get(f"/quality/campaigns/{build.campaign.slug}/").content.decode()
    assert "Rater reliabilities" in page and "rater4" in page
    assert "Compute consensus" not in page  # reviewers see it, researchers compute it


@pytest.mark.django_db(transaction=True)
def test_a_large_campaign_is_computed_by_a_worker(
    build: Builder, rated, celery_worker, monkeypatch
) -> None:
    import time

    monkeypatch.setattr(consensus_module, "LIVE_JUDGMENTS_MAX", 0)
    run = consensus_module.consensus_request(campaign=build.campaign)
    assert run.status == ConsensusRun.Status.QUEUED
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (ConsensusRun.Status.DONE, ConsensusRun.Status.FAILED):
            break
        time.sleep(0.2)
    assert run.status == ConsensusRun.Status.DONE, run.error
    assert run.summary[SEVERITY_FIELD]["items"] == 40


def test_export_with_consensus_labels_uses_them(build: Builder, rated, personas, tmp_path) -> None:
    from exports.services import export_preview

    data = {
        "format": "trl-preference",
        "campaigns": [build.campaign.slug],
        "labels": "consensus",
        "split_ratios": {"train": 1.0, "validation": 0.0, "test": 0.0},
    }
    with pytest.raises(Exception) as refused:
        export_preview(data=data)
    assert "labels" in refused.value.message_dict  # type: ignore[attr-defined]
    assert "no consensus computed for campaign quality" in str(refused.value)
    consensus_module.consensus_request(campaign=build.campaign)
    majority = export_preview(data={**data, "labels": "majority"})
    chosen = export_preview(data=data)
    assert chosen["labels"] == "consensus"
    assert chosen["consensus_runs"][0]["id"] == latest_consensus(build.campaign).pk
    assert chosen["other"]["pairs_with_consensus_labels"] == 20
    assert majority["rows"] == chosen["rows"] == 20
    out = tmp_path / "out"
    call_command(
        "export",
        "--campaign",
        build.campaign.slug,
        "--format",
        "trl-preference",
        "--combine",
        "consensus",
        "--split",
        "1,0,0",
        "--out",
        str(out),
        stdout=StringIO(),
    )
    (out,) = list(out.iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == "consensus"
    assert manifest["consensus_runs"][0]["campaign"] == build.campaign.slug
    assert "consensus run" in (out / "README.md").read_text()
    rows = [
        json.loads(line)
        for path in sorted(out.glob("data/**/train.jsonl"))
        for line in path.read_text().splitlines()
    ]
    # rater4's reversed preference (a quarter of the judgments on its pairs) is out-voted
    # either way; with consensus the preference's strength is the careful raters' alone.
    chosen_texts = {row["chosen"][-1]["content"] for row in rows}
    assert len(rows) == 20 and len(chosen_texts) == 20
