"""Head-to-head win rates and the Bradley–Terry ranking on fixed data: the point estimates
equal a hand count, the ranking equals choix's own fit, intervals are seeded and contain the
estimate; grader preferences combine both orders; too little data says so; roles, API,
command and CSV."""

from __future__ import annotations

import csv
import io
import json
from io import StringIO

import choix
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.compare.figures import BT_ALPHA, comparison_report
from labeling.models import Candidate, Prompt

from .conftest import BETA, REFUSE, SAFE, planted_preference

API = "/api/v1/campaigns/test-campaign/compare/"
PAGE = "/campaigns/test-campaign/compare/"


def _hand_count(planted, *, who=("anna", "ben"), intent=None) -> dict[tuple[str, str], float]:
    """Win rate of the first source (sorted by name) from the planted rule, by hand."""
    scores: dict[tuple[str, str], list[float]] = {}
    for _pair, a, b, index in planted.pairs:
        if intent == "benign" and index % 2:
            continue
        for person in who:
            preference = planted_preference(a, b, person, index)
            a_score = 1.0 if preference < 0 else 0.0 if preference > 0 else 0.5
            first, second = sorted((a, b))
            scores.setdefault((first, second), []).append(a_score if first == a else 1.0 - a_score)
    return {key: sum(values) / len(values) for key, values in scores.items()}


def _rows(report):
    return {(row["first"], row["second"]): row for row in report["head_to_head"]}


def test_win_rates_equal_a_hand_count_and_intervals_hold_them(planted):
    report = comparison_report(campaign=planted.campaign, source="human", reps=500, seed=3)
    assert report["sources"] == sorted([SAFE, REFUSE, BETA])
    rows = _rows(report)
    for key, expected in _hand_count(planted).items():
        row = rows[key]
        assert row["win_rate"] == pytest.approx(expected)
        assert row["pairs"] == 8 and row["comparisons"] == 16
        low, high = row["ci95"]
        assert low <= row["win_rate"] <= high
    # The safe-completion style beats the refusal style every time: no spread at all.
    assert rows[(REFUSE, SAFE)]["win_rate"] == 0.0
    assert rows[(REFUSE, SAFE)]["ci95"] == [0.0, 0.0]
    # beta vs refusal: anna ties (½ each), ben prefers the refusal style: 0.25 for beta.
    assert rows[(REFUSE, BETA)]["win_rate"] == pytest.approx(0.75)
    assert rows[(REFUSE, BETA)]["ties"] == 8
    again = comparison_report(campaign=planted.campaign, source="human", reps=500, seed=3)
    assert again == report
    other = comparison_report(campaign=planted.campaign, source="human", reps=500, seed=4)
    assert _rows(other)[(SAFE, BETA)]["ci95"] != rows[(SAFE, BETA)]["ci95"]


def test_a_filter_narrows_to_its_prompts(planted):
    report = comparison_report(campaign=planted.campaign, source="human", intent="benign", reps=0)
    rows = _rows(report)
    # On benign prompts beta always beats the safe-completion style.
    assert rows[(SAFE, BETA)]["win_rate"] == 0.0
    assert rows[(SAFE, BETA)]["pairs"] == 4
    for key, expected in _hand_count(planted, intent="benign").items():
        assert rows[key]["win_rate"] == pytest.approx(expected)


def test_ranking_equals_choix_on_the_same_matrix(planted):
    report = comparison_report(campaign=planted.campaign, source="human", reps=200, seed=0)
    names = report["sources"]
    index = {name: position for position, name in enumerate(names)}
    matrix = np.zeros((3, 3))
    for (first, second), rate in _hand_count(planted).items():
        matrix[index[first], index[second]] += rate * 16
        matrix[index[second], index[first]] += (1 - rate) * 16
    params = choix.ilsr_pairwise_dense(matrix, alpha=BT_ALPHA, max_iter=10_000)
    params = params - params.mean()
    ranked = {row["source"]: row for row in report["ranking"]}
    for name in names:
        assert ranked[name]["strength"] == pytest.approx(params[index[name]], abs=1e-6)
    assert [row["source"] for row in report["ranking"]] == sorted(
        names, key=lambda name: -params[index[name]]
    )
    for row in report["ranking"]:
        low, high = row["ci95"]
        assert low <= row["strength"] <= high
    assert report["unranked"] == []


def test_grader_preferences_combine_both_orders(planted):
    report = comparison_report(
        campaign=planted.campaign, source="grader", version=planted.version, reps=0
    )
    assert report["grader"] == {"name": "judge", "version": 1}
    assert report["comparisons"] == {"total": 24, "human": 0, "grader": 24, "pairs": 24}
    rows = _rows(report)
    # ab: anna's preference, ba: 0 → the mean truncated toward zero keeps only her −2s and +2s
    # (a 1 halves to 0.5, truncated to a tie). refusal vs safe: safe's −2/+2 stand: it wins.
    assert rows[(REFUSE, SAFE)]["win_rate"] == 0.0
    # beta vs refusal: anna ties → ties.
    assert rows[(REFUSE, BETA)]["ties"] == 8
    both = comparison_report(
        campaign=planted.campaign, source="both", version=planted.version, reps=0
    )
    assert both["comparisons"]["total"] == 48 + 24
    assert both["labels"].startswith("human and grader")


def test_too_little_data_says_so(planted, campaign):
    lone = Prompt.objects.create(
        campaign=campaign,
        messages=[{"role": "user", "content": "lonely"}],
        category_path="benign/general",
        intent="benign",
        content_hash="lonely",
    )
    Candidate.objects.create(
        prompt=lone, text="x", source="gamma", model="gamma", idempotency_key="g"
    )
    report = comparison_report(campaign=campaign, source="human", reps=50)
    rows = _rows(report)
    assert rows[(BETA, "gamma")]["win_rate"] is None
    assert "no judged pairs" in rows[(BETA, "gamma")]["note"]
    assert rows[(BETA, "gamma")]["ci95"] == [None, None]
    assert {"source": "gamma", "reason": "never compared with another source"} in report["unranked"]
    empty = comparison_report(campaign=campaign, source="human", intent="malicious", reps=50)
    assert empty["ranking"] == [] and empty["notes"]
    assert all(row["win_rate"] is None for row in empty["head_to_head"])


def test_roles_page_and_csv(planted, client_for):
    for who in ("rita", "victor", "alice"):
        assert client_for(who).get(PAGE).status_code == 200
    assert client_for("anna").get(PAGE).status_code == 403
    assert client_for("anna").get(API).status_code == 403
    page = client_for("victor").get(PAGE + "?source=both&intent=benign")
    body = page.content.decode()
    assert 'id="compare-charts" data-charts="' in body and "grader judge v1" in body
    assert '<option value="dual_use">Dual-use</option>' in body
    assert "<script>" not in body
    answer = client_for("rita").get(
        "/campaigns/test-campaign/compare/head-to-head.csv?source=human&intent=benign"
    )
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    by_pair = {(row["first"], row["second"]): row for row in rows}
    assert float(by_pair[(SAFE, BETA)]["win_rate"]) == 0.0
    assert by_pair[(SAFE, BETA)]["intent"] == "benign"
    ranking = client_for("rita").get("/campaigns/test-campaign/compare/ranking.csv")
    assert [row["source"] for row in csv.DictReader(io.StringIO(ranking.content.decode()))]


def test_api_answers_the_report_and_names_bad_fields(planted, client_for):
    rita = client_for("rita")
    answer = rita.get(API + "?source=grader&grader=judge&version=1&category=benign/general")
    assert answer.status_code == 200
    data = answer.json()
    assert data["grader"] == {"name": "judge", "version": 1}
    assert data["category"] == "benign/general" and data["comparisons"]["pairs"] == 12
    assert set(data) >= {"head_to_head", "ranking", "unranked", "sources", "labels", "notes"}
    bad = rita.get(API + "?source=crowd&intent=evil")
    assert bad.status_code == 400
    assert set(bad.json()) == {"source", "intent"}
    assert rita.get(API + "?source=grader&grader=nobody").json()["grader"]
    assert rita.get(API + "?source=grader&grader=judge&version=x").status_code == 400


def test_command_prints_json_and_text(planted):
    out = StringIO()
    call_command("compare", campaign="test-campaign", json=True, reps=100, stdout=out)
    data = json.loads(out.getvalue())
    assert data["source"] == "human" and len(data["head_to_head"]) == 3
    assert {"first", "second", "win_rate", "ci95", "pairs", "note"} <= set(data["head_to_head"][0])
    assert {"rank", "source", "strength", "ci95", "comparisons"} <= set(data["ranking"][0])
    out = StringIO()
    call_command(
        "compare", campaign="test-campaign", source="both", grader="judge", reps=50, stdout=out
    )
    text = out.getvalue()
    assert "grader judge v1" in text and "Bradley–Terry ranking" in text
    with pytest.raises(CommandError, match="grader"):
        call_command("compare", campaign="test-campaign", source="grader", grader="ghost")
