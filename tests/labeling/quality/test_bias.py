"""Bias checks on a synthetic campaign with planted biases."""

from __future__ import annotations

import random

import pytest
from scipy.stats import pearsonr

from labeling.quality.bias import length_bias, position_bias, wilson_interval

from .conftest import Builder


@pytest.fixture
def planted(build: Builder, annotators):
    """rater1 always prefers whatever is on the left; rater2 prefers the longer answer;
    the side order is random per judgment, as the UI randomises it."""
    rng = random.Random(5)
    left_lover, long_lover = annotators[0], annotators[1]
    records = []
    for index in range(40):
        prompt = build.prompt()
        short = build.candidate(prompt, text="x" * (10 + index))
        long = build.candidate(prompt, text="y" * (100 + 7 * index))
        pair = build.pair(short, long)
        left_is_a = rng.random() < 0.5
        # planted position bias: the left side wins, strongly or slightly
        strength = 2 if index % 3 == 0 else 1
        build.judge(
            pair, left_lover, left_is_a=left_is_a, preference=-strength if left_is_a else strength
        )
        longer_is_b = len(pair.candidate_b.text) > len(pair.candidate_a.text)
        preference = 0 if index % 10 == 0 else (strength if longer_is_b else -strength)
        build.judge(pair, long_lover, left_is_a=rng.random() < 0.5, preference=preference)
        difference = len(pair.candidate_b.text) - len(pair.candidate_a.text)
        records.append((difference, preference, -strength if left_is_a else strength))
    return records


def test_position_bias_finds_the_planted_bias(quality_campaign, planted) -> None:
    result = position_bias(campaign=quality_campaign)
    rows = {row["annotator"]: row for row in result["annotators"]}
    assert rows["rater1"]["decided"] == 40
    assert rows["rater1"]["left_win_share"] == 1.0
    assert rows["rater1"]["p_value"] < 1e-6
    # rater2 follows length, not position: near 50%, no evidence of bias
    assert 0.2 < rows["rater2"]["left_win_share"] < 0.8
    assert rows["rater2"]["decided"] == 36
    assert rows["rater2"]["p_value"] > 0.01
    campaign = result["campaign"]
    assert campaign["decided"] == 76
    assert campaign["left_wins"] == 40 + rows["rater2"]["left_wins"]
    low, high = campaign["ci95"]
    assert low < campaign["left_win_share"] < high


def test_length_bias_matches_pearson(quality_campaign, planted) -> None:
    result = length_bias(campaign=quality_campaign)
    rows = {row["annotator"]: row for row in result["annotators"]}
    differences = [d for d, _, _ in planted]
    preferences = [p for _, p, _ in planted]
    assert rows["rater2"]["pearson_r"] == pytest.approx(
        pearsonr(differences, preferences).statistic, abs=1e-9
    )
    assert rows["rater2"]["longer_win_share"] == 1.0
    assert rows["rater2"]["decided"] == 36
    all_d = differences + [d for d, _, _ in planted]
    all_p = preferences + [p for _, _, p in planted]
    assert result["campaign"]["pearson_r"] == pytest.approx(
        pearsonr(all_d, all_p).statistic, abs=1e-9
    )


def test_wilson_interval() -> None:
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4)
    assert high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 0) == [None, None]


def test_bias_api(client_for, quality_campaign, planted) -> None:
    response = client_for("rita").get(f"/api/v1/quality/campaigns/{quality_campaign.slug}/bias/")
    assert response.status_code == 200
    body = response.json()
    assert body["position"]["campaign"]["decided"] == 76
    assert {row["annotator"] for row in body["length"]["annotators"]} == {"rater1", "rater2"}
