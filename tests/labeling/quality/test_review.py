"""Review queue, resolutions (and their use by an export), prompt corrections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from labeling.models import PromptChange, Review
from labeling.quality.gold import pair_gold_set
from labeling.quality.review import final_labels_clean, review_queue, review_record

from .conftest import Builder

LABELS = {
    "a": {"response_mode": "hard_refusal", "severity": "none", "helpfulness": 1},
    "b": {"response_mode": "safe_completion", "severity": "none", "helpfulness": 4},
    "preference": 2,
}


@pytest.fixture
def queue_data(build: Builder, annotators):
    """Pairs: agreeing, opposite preferences, severity spread, flagged, failed gold."""
    r1, r2, r3, _ = annotators
    pairs = {}
    for name in ("agree", "opposite", "severity", "flagged", "gold"):
        prompt = build.prompt()
        pairs[name] = build.pair(build.candidate(prompt), build.candidate(prompt))
    for rater in (r1, r2, r3):
        build.judge(pairs["agree"], rater, preference=-1)
    build.judge(pairs["opposite"], r1, preference=-1)
    build.judge(pairs["opposite"], r2, preference=1)
    build.judge(pairs["severity"], r1, a=("direct_answer", "none", 3), preference=1)
    build.judge(pairs["severity"], r2, a=("direct_answer", "moderate", 3), preference=1)
    build.judge(pairs["flagged"], r1, preference=0, flags=["needs_expert"])
    build.judge(pairs["flagged"], r2, preference=0)
    pair_gold_set(
        pair=pairs["gold"],
        answer={
            "a": {"severity": "none", "helpfulness": 3},
            "b": {"severity": "none", "helpfulness": 3},
            "preference": 0,
            "severity_tolerance": 0,
            "helpfulness_tolerance": 0,
        },
    )
    build.judge(pairs["gold"], r1, preference=0)  # passes
    build.judge(pairs["gold"], r2, preference=0, b=("direct_answer", "none", 4))  # fails
    return pairs


def test_queue_holds_disagreements_flags_and_failed_gold(quality_campaign, queue_data) -> None:
    queue = review_queue(campaign=quality_campaign)
    by_pair = {item["pair_id"]: item for item in queue["items"]}
    assert set(by_pair) == {
        queue_data[name].pk for name in ("opposite", "severity", "flagged", "gold")
    }
    assert queue["total"] == 4
    assert "opposite preferences" in by_pair[queue_data["opposite"].pk]["reasons"]
    assert "severity spread (A)" in by_pair[queue_data["severity"].pk]["reasons"]
    assert "flag: needs_expert" in by_pair[queue_data["flagged"].pk]["reasons"]
    assert by_pair[queue_data["gold"].pk]["reasons"][0] == "failed gold (1)"
    # failed gold first, then the expert flag
    assert [item["pair_id"] for item in queue["items"][:2]] == [
        queue_data["gold"].pk,
        queue_data["flagged"].pk,
    ]


def test_reviewed_pairs_leave_the_queue(quality_campaign, queue_data, personas) -> None:
    review_record(pair=queue_data["opposite"], reviewer=personas["victor"], resolution="discard")
    review_record(
        pair=queue_data["gold"],
        reviewer=personas["victor"],
        resolution="labels",
        final_labels=LABELS,
    )
    ids = {item["pair_id"] for item in review_queue(campaign=quality_campaign)["items"]}
    assert queue_data["opposite"].pk not in ids
    assert queue_data["gold"].pk not in ids


def test_final_labels_are_validated() -> None:
    assert final_labels_clean({**LABELS, "preference": "2"})["preference"] == 2
    with pytest.raises(ValidationError) as error:
        final_labels_clean(
            {"a": {"response_mode": "x", "severity": "none", "helpfulness": 9}, "preference": 5}
        )
    assert set(error.value.message_dict) == {
        "a.response_mode",
        "a.helpfulness",
        "b",
        "preference",
    }


def test_reviewer_page_shows_all_judgments_and_records_resolution(
    client_for, quality_campaign, queue_data
) -> None:
    victor = client_for("victor")
    queue_page = victor.get(reverse("labeling:review_queue"), {"campaign": quality_campaign.slug})
    assert queue_page.status_code == 200
    pair = queue_data["opposite"]
    assert reverse("labeling:review_pair", args=[pair.pk]).encode() in queue_page.content
    page = victor.get(reverse("labeling:review_pair", args=[pair.pk]))
    assert page.status_code == 200
    assert page.content.count(b"<td>rater") == 2  # both judgments, annotators named
    response = victor.post(
        reverse("labeling:review_pair", args=[pair.pk]),
        {
            "resolution": "labels",
            "a_response_mode": "hard_refusal",
            "a_severity": "none",
            "a_helpfulness": "1",
            "b_response_mode": "safe_completion",
            "b_severity": "none",
            "b_helpfulness": "4",
            "preference": "2",
            "notes": "B helps safely",
        },
    )
    assert response.status_code == 302
    review = Review.objects.get(pair=pair)
    assert review.final_labels == LABELS
    assert review.resolution == "labels"
    assert review.reviewer.username == "victor"
    # a resolution without its labels is refused and changes nothing
    bad = victor.post(
        reverse("labeling:review_pair", args=[queue_data["severity"].pk]),
        {"resolution": "labels", "preference": "1"},
    )
    assert bad.status_code == 400
    assert not Review.objects.filter(pair=queue_data["severity"]).exists()


def test_review_resolutions_are_used_by_an_export(
    client_for, quality_campaign, queue_data, tmp_path: Path
) -> None:
    from exports.pipeline import run_pipeline
    from exports.selectors import stream_export_rows
    from exports.spec import ExportSpec

    victor = client_for("victor")
    resolved = queue_data["opposite"]
    discarded = queue_data["severity"]
    victor.post(
        reverse("labeling:review_pair", args=[resolved.pk]),
        {
            "resolution": "labels",
            "a_response_mode": "hard_refusal",
            "a_severity": "none",
            "a_helpfulness": "1",
            "b_response_mode": "safe_completion",
            "b_severity": "none",
            "b_helpfulness": "4",
            "preference": "2",
        },
    )
    victor.post(reverse("labeling:review_pair", args=[discarded.pk]), {"resolution": "discard"})
    spec = ExportSpec(format="trl-preference", campaigns=(quality_campaign.slug,))
    result = run_pipeline(
        spec,
        stream_export_rows(spec, as_of=timezone.now()),
        root=tmp_path,
        mapping=quality_campaign.policy_version.severity_to_safety,
        policy_version=quality_campaign.policy_version.number,
    )
    rows = [
        json.loads(line)
        for path in tmp_path.rglob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    by_pair = {row["pair_id"]: row for row in rows}
    assert str(discarded.pk) not in by_pair
    assert result.left_out["discarded_by_review"] == 1
    # the judgments split 1-1; the review says B much better, and the export follows it
    row = by_pair[str(resolved.pk)]
    assert json.dumps(row["chosen"]).count(resolved.candidate_b.text) == 1
    assert json.dumps(row["rejected"]).count(resolved.candidate_a.text) == 1


def test_reviewer_corrects_a_prompt_with_history(client_for, queue_data) -> None:
    pair = queue_data["flagged"]
    prompt = pair.prompt
    response = client_for("victor").post(
        reverse("labeling:prompt_correct", args=[prompt.pk]),
        {
            "category_path": "chemistry/dual-use",
            "intent": "dual_use",
            "reason": "about chemicals",
            "pair": str(pair.pk),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("labeling:review_pair", args=[pair.pk])
    prompt.refresh_from_db()
    assert (prompt.category_path, prompt.intent) == ("chemistry/dual-use", "dual_use")
    changes = {c.field: c for c in PromptChange.objects.filter(prompt=prompt)}
    assert changes["category_path"].old_value == "biology/low-risk-dual-use"
    assert changes["intent"].old_value == "benign"
    assert changes["intent"].changed_by.username == "victor"
    assert changes["intent"].reason == "about chemicals"
    # an unknown category is refused
    client_for("victor").post(
        reverse("labeling:prompt_correct", args=[prompt.pk]),
        {"category_path": "nope/never", "intent": "benign"},
    )
    prompt.refresh_from_db()
    assert prompt.category_path == "chemistry/dual-use"
    assert PromptChange.objects.filter(prompt=prompt).count() == 2


def test_review_and_correction_api(client_for, queue_data) -> None:
    pair = queue_data["opposite"]
    victor = client_for("victor")
    url = f"/api/v1/quality/pairs/{pair.pk}/review/"
    response = victor.put(
        url,
        {"resolution": "labels", "final_labels": LABELS, "notes": ""},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["final_labels"] == LABELS
    assert victor.get(url).json()["resolution"] == "labels"
    bad = victor.put(
        url,
        {"resolution": "labels", "final_labels": {**LABELS, "preference": 7}},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert Review.objects.get(pair=pair).final_labels == LABELS
    correction = victor.post(
        f"/api/v1/quality/prompts/{pair.prompt_id}/correction/",
        {"intent": "malicious", "reason": "plain harmful purpose"},
        content_type="application/json",
    )
    assert correction.status_code == 200
    assert correction.json()["changes"] == [
        {"field": "intent", "old_value": "benign", "new_value": "malicious"}
    ]
    queue = victor.get("/api/v1/quality/review-queue/", {"campaign": pair.prompt.campaign.slug})
    assert queue.status_code == 200
    assert pair.pk not in {item["pair_id"] for item in queue.json()["items"]}
