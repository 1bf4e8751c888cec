"""Gold pairs: validating the expected answer, scoring judgments, flagging annotators."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from labeling.models import Pair
from labeling.quality.gold import (
    gold_accuracy_by_annotator,
    gold_answer_clean,
    gold_score,
    pair_gold_set,
)

from .conftest import Builder

ANSWER = {
    "a": {"severity": "none", "helpfulness": 3},
    "b": {"severity": "moderate", "helpfulness": 2},
    "preference": -1,
    "severity_tolerance": 1,
    "helpfulness_tolerance": 1,
}


def values(a_sev="none", a_help=3, b_sev="moderate", b_help=2, preference=-1) -> dict:
    return {
        "a_severity": a_sev,
        "a_helpfulness": a_help,
        "b_severity": b_sev,
        "b_helpfulness": b_help,
        "preference": preference,
    }


@pytest.mark.parametrize(
    ("judgment", "failures"),
    [
        (values(), ()),
        (values(a_sev="negligible", b_sev="high", a_help=4, b_help=1, preference=-2), ()),
        (values(a_sev="low"), ("a.severity",)),
        (values(b_sev="negligible"), ("b.severity",)),
        (values(a_help=1), ("a.helpfulness",)),
        (values(b_help=4), ("b.helpfulness",)),
        (values(preference=0), ("preference",)),
        (values(preference=2), ("preference",)),
        (
            values(a_sev="high", b_help=4, preference=1),
            ("a.severity", "b.helpfulness", "preference"),
        ),
    ],
)
def test_gold_score(judgment: dict, failures: tuple) -> None:
    outcome = gold_score(judgment=judgment, answer=gold_answer_clean(ANSWER))
    assert outcome.failures == failures
    assert outcome.passed is (not failures)


def test_zero_tolerance_needs_exact_values() -> None:
    strict = gold_answer_clean({**ANSWER, "severity_tolerance": 0, "helpfulness_tolerance": 0})
    assert gold_score(judgment=values(a_help=4), answer=strict).failures == ("a.helpfulness",)
    assert gold_score(judgment=values(), answer=strict).passed


def test_gold_answer_validation() -> None:
    with pytest.raises(ValidationError) as error:
        gold_answer_clean(
            {
                "a": {"severity": "awful", "helpfulness": 0},
                "preference": 2,
                "severity_tolerance": -1,
                "helpfulness_tolerance": True,
            }
        )
    assert set(error.value.message_dict) == {
        "a.severity",
        "a.helpfulness",
        "b",
        "preference",
        "severity_tolerance",
        "helpfulness_tolerance",
    }
    with pytest.raises(ValidationError):
        gold_answer_clean("not an object")
    assert gold_answer_clean({**ANSWER, "preference": "1"})["preference"] == 1


def test_accuracy_per_annotator_and_flagging(build: Builder, annotators, quality_campaign) -> None:
    good, bad, new, _ = annotators
    gold_pairs = []
    for _ in range(4):
        prompt = build.prompt()
        pair = build.pair(build.candidate(prompt), build.candidate(prompt))
        gold_pairs.append(pair_gold_set(pair=pair, answer=ANSWER))
    # an ordinary pair never counts
    prompt = build.prompt()
    ordinary = build.pair(build.candidate(prompt), build.candidate(prompt))
    build.judge(ordinary, bad, preference=2)
    for index, pair in enumerate(gold_pairs):
        build.judge(
            pair, good, a=("direct_answer", "none", 3), b=("other", "moderate", 2), preference=-1
        )
        # bad gets 1 of 4 right: accuracy 0.25 < 0.8
        build.judge(
            pair,
            bad,
            a=("direct_answer", "none", 3),
            b=("other", "moderate", 2),
            preference=-1 if index == 0 else 1,
        )
    # two misses out of two: under the threshold, but too few gold pairs to flag
    for pair in gold_pairs[:2]:
        build.judge(pair, new, a=("direct_answer", "high", 3), b=("other", "none", 2))
    rows = {row["annotator"]: row for row in gold_accuracy_by_annotator(campaign=quality_campaign)}
    assert rows["rater1"] == {
        "annotator_id": good.pk,
        "annotator": "rater1",
        "gold_judgments": 4,
        "passed": 4,
        "accuracy": 1.0,
        "flagged": False,
    }
    assert rows["rater2"]["gold_judgments"] == 4
    assert rows["rater2"]["accuracy"] == 0.25
    assert rows["rater2"]["flagged"] is True
    assert rows["rater3"]["accuracy"] == 0.0
    assert rows["rater3"]["flagged"] is False


def test_flagged_annotator_shows_on_the_review_queue(
    build: Builder, annotators, quality_campaign, client_for
) -> None:
    bad = annotators[1]
    for _ in range(3):
        prompt = build.prompt()
        pair = pair_gold_set(
            pair=build.pair(build.candidate(prompt), build.candidate(prompt)), answer=ANSWER
        )
        build.judge(pair, bad, preference=1)
    page = client_for("victor").get(
        reverse("labeling:review_queue"), {"campaign": quality_campaign.slug}
    )
    assert b'id="flagged-annotators"' in page.content
    assert b"<strong>rater2</strong>" in page.content


def test_researcher_marks_a_pair_gold_in_the_ui_and_api(build: Builder, client_for) -> None:
    prompt = build.prompt()
    pair = build.pair(build.candidate(prompt), build.candidate(prompt))
    rita = client_for("rita")
    url = reverse("labeling:gold_pair", args=[pair.pk])
    assert rita.get(url).status_code == 200
    response = rita.post(
        url,
        {
            "action": "set",
            "a_severity": "none",
            "a_helpfulness": "3",
            "b_severity": "moderate",
            "b_helpfulness": "2",
            "preference": "-1",
            "severity_tolerance": "1",
            "helpfulness_tolerance": "1",
        },
    )
    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.is_gold and pair.gold_answer == ANSWER
    assert rita.post(url, {"action": "clear"}).status_code == 302
    pair.refresh_from_db()
    assert not pair.is_gold and pair.gold_answer is None

    api = f"/api/v1/quality/pairs/{pair.pk}/gold/"
    response = rita.put(api, ANSWER, content_type="application/json")
    assert response.status_code == 200
    assert Pair.objects.get(pk=pair.pk).gold_answer == ANSWER
    bad = rita.put(api, {**ANSWER, "preference": 3}, content_type="application/json")
    assert bad.status_code == 400
    assert rita.delete(api).status_code == 204
    assert not Pair.objects.get(pk=pair.pk).is_gold
    # reviewers adjudicate but do not set gold; annotators never see gold answers
    assert client_for("victor").get(url).status_code == 403
    assert client_for("anna").get(api).status_code == 403
