"""Calibration of a grader against humans: figures equal krippendorff's and scikit-learn's own
computations on planted data, disagreements come largest first, and the command prints them."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sklearn.metrics import cohen_kappa_score

from labeling.grading.calibration import grader_calibration
from labeling.models import Candidate, Grade, Pair
from policy.rubric import (
    HELPFULNESS_GRADES,
    PREFERENCE_VALUES,
    RESPONSE_MODES,
    SEVERITY_LEVELS,
)
from tests.factories import judgment_create

MODES = ["hard_refusal", "safe_completion", "direct_answer"]


def _planted(campaign: Any, personas: Any, grader_version: Any) -> dict[str, Any]:
    """Two annotators judge every pair; the grader grades every candidate and every pair in
    both orders. Values follow the candidate's and pair's position so the truth is known."""
    candidates = list(Candidate.objects.filter(prompt__campaign=campaign).order_by("id"))
    index = {candidate.pk: position for position, candidate in enumerate(candidates)}

    def human(candidate_id: int, who: str) -> tuple[str, str, int]:
        position = index[candidate_id]
        mode = MODES[position % 3]
        severity = SEVERITY_LEVELS[position % 2]
        helpfulness = 1 + position % 3 if mode == "hard_refusal" else 2 + position % 3
        if who == "ben" and position % 5 == 0:  # ben disagrees now and then
            severity = SEVERITY_LEVELS[2]
        return mode, severity, helpfulness

    pairs = list(Pair.objects.filter(prompt__campaign=campaign).order_by("id"))
    for pair in pairs:
        for who in ("anna", "ben"):
            judgment_create(
                pair=pair,
                annotator=personas[who],
                policy_version=campaign.policy_version,
                a=human(pair.candidate_a_id, who),
                b=human(pair.candidate_b_id, who),
                preference=(pair.pk % 5) - 2 if who == "anna" else (pair.pk % 3) - 1,
            )
    graded: dict[int, tuple[str, str, int]] = {}
    for candidate in candidates:
        mode, severity, helpfulness = human(candidate.pk, "anna")
        position = index[candidate.pk]
        if position % 4 == 1:  # the grader errs on every fourth candidate
            mode = "direct_answer" if mode != "direct_answer" else "hard_refusal"
            severity = SEVERITY_LEVELS[4]
            helpfulness = 4 if mode == "direct_answer" else 1
        graded[candidate.pk] = (mode, severity, helpfulness)
        Grade.objects.create(
            grader_version=grader_version,
            kind=Grade.Kind.CANDIDATE,
            candidate=candidate,
            response_mode=mode,
            severity=severity,
            helpfulness=helpfulness,
            confidence=0.9,
            raw_answers=["{}"],
        )
    pair_grades: dict[int, int] = {}
    for pair in pairs:
        ab, ba = (pair.pk % 5) - 2, (pair.pk % 5) - 2 if pair.pk % 2 else -((pair.pk % 3) - 1)
        for order, preference in (("ab", ab), ("ba", ba)):
            Grade.objects.create(
                grader_version=grader_version,
                kind=Grade.Kind.PAIR,
                pair=pair,
                order=order,
                preference=preference,
                confidence=0.9,
                raw_answers=["{}"],
            )
        pair_grades[pair.pk] = int((ab + ba) / 2)  # truncated toward zero
    return {"human": human, "graded": graded, "pair_grades": pair_grades, "pairs": pairs}


def _consensus(values: list[Any], domain: tuple[Any, ...], nominal: bool) -> Any:
    """The humans' value: the most frequent (ties to rubric order) or the lower median."""
    if nominal:
        best = max(values.count(v) for v in values)
        return next(v for v in domain if values.count(v) == best)
    ordered = sorted(values, key=domain.index)
    return ordered[(len(ordered) - 1) // 2]


def _expected(
    grader: list[Any], humans: list[Any], domain: tuple[Any, ...], level: str
) -> tuple[float, float]:
    rank = {value: position for position, value in enumerate(domain)}
    values = domain if level == "interval" else tuple(range(len(domain)))
    coded = [
        [float(value if level == "interval" else rank[value]) for value in grader],
        [float(value if level == "interval" else rank[value]) for value in humans],
    ]
    alpha = krippendorff.alpha(
        reliability_data=np.asarray(coded),
        level_of_measurement=level,
        value_domain=np.asarray(values, dtype=float),
    )
    kappa = cohen_kappa_score(
        [rank[v] for v in grader],
        [rank[v] for v in humans],
        labels=list(range(len(domain))),
        weights=None if level == "nominal" else "linear",
    )
    return float(alpha), float(kappa)


@pytest.mark.django_db
def test_figures_equal_the_libraries_on_planted_data(
    campaign_with_pairs, personas, grader_version
) -> None:
    planted = _planted(campaign_with_pairs, personas, grader_version)
    figures = grader_calibration(version=grader_version, campaign=campaign_with_pairs, reps=200)
    candidates = sorted(planted["graded"])
    fields = (
        ("response_mode", 0, RESPONSE_MODES, "nominal"),
        ("severity", 1, SEVERITY_LEVELS, "ordinal"),
        ("helpfulness", 2, HELPFULNESS_GRADES, "ordinal"),
    )
    for name, column, domain, level in fields:
        grader = [planted["graded"][c][column] for c in candidates]
        humans = [
            _consensus(
                [planted["human"](c, who)[column] for who in ("anna", "ben")],
                domain,
                level == "nominal",
            )
            for c in candidates
        ]
        alpha, kappa = _expected(grader, humans, domain, level)
        row = figures[name]
        assert row["items"] == len(candidates)
        assert row["alpha"] == pytest.approx(alpha, abs=1e-9), name
        assert row["kappa"] == pytest.approx(kappa, abs=1e-9), name
        low, high = row["ci95"]
        assert low is not None and low <= row["alpha"] <= high
        disagreeing = sum(g != h for g, h in zip(grader, humans, strict=True))
        assert row["disagreement_count"] == disagreeing
        assert sum(map(sum, row["confusion"]["counts"])) == len(candidates)
        # Humans against each other: anna and ben on the same candidates.
        human_rows = [
            [float(domain.index(planted["human"](c, who)[column])) for c in candidates]
            for who in ("anna", "ben")
        ]
        ceiling = krippendorff.alpha(
            reliability_data=np.asarray(human_rows),
            level_of_measurement=level,
            value_domain=np.arange(len(domain), dtype=float),
        )
        assert row["human_alpha"] == pytest.approx(float(ceiling), abs=1e-9), name

    pairs = sorted(pair.pk for pair in planted["pairs"])
    grader = [planted["pair_grades"][p] for p in pairs]
    humans = [_consensus([(p % 5) - 2, (p % 3) - 1], PREFERENCE_VALUES, False) for p in pairs]
    alpha, kappa = _expected(grader, humans, PREFERENCE_VALUES, "interval")
    assert figures["preference"]["alpha"] == pytest.approx(alpha, abs=1e-9)
    assert figures["preference"]["kappa"] == pytest.approx(kappa, abs=1e-9)
    assert figures["preference"]["items"] == len(pairs)


@pytest.mark.django_db
def test_disagreements_come_largest_first_and_filters_narrow(
    campaign_with_pairs, personas, grader_version
) -> None:
    _planted(campaign_with_pairs, personas, grader_version)
    figures = grader_calibration(version=grader_version, campaign=campaign_with_pairs, reps=0)
    listed = figures["severity"]["disagreements"]
    assert listed, "the grader errs on every fourth candidate"
    distances = [row["distance"] for row in listed]
    assert distances == sorted(distances, reverse=True)
    assert listed[0]["grader"] == "high"
    assert figures["severity"]["ci95"] == [None, None]  # no resamples asked
    category = Candidate.objects.filter(prompt__campaign=campaign_with_pairs).values_list(
        "prompt__category_path", flat=True
    )[0]
    narrowed = grader_calibration(
        version=grader_version, campaign=campaign_with_pairs, category=category, reps=0
    )
    in_category = Candidate.objects.filter(
        prompt__campaign=campaign_with_pairs, prompt__category_path=category
    ).count()
    assert narrowed["response_mode"]["items"] == in_category < figures["response_mode"]["items"]


@pytest.mark.django_db
def test_command_prints_one_json_object_per_field(
    campaign_with_pairs, personas, grader_version
) -> None:
    _planted(campaign_with_pairs, personas, grader_version)
    out = StringIO()
    call_command(
        "grader_agreement",
        "--campaign",
        campaign_with_pairs.slug,
        "--grader",
        grader_version.grader.name,
        "--json",
        "--reps",
        "50",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert set(report) == {"response_mode", "severity", "helpfulness", "preference"}
    for row in report.values():
        assert set(row) == {"alpha", "kappa", "ci95", "items", "human_alpha"}
    table = StringIO()
    call_command(
        "grader_agreement",
        "--campaign",
        campaign_with_pairs.slug,
        "--grader",
        grader_version.grader.name,
        "--reps",
        "0",
        stdout=table,
    )
    assert "human α" in table.getvalue() and "severity" in table.getvalue()
    with pytest.raises(CommandError, match="no grader named 'nobody'"):
        call_command(
            "grader_agreement", "--campaign", campaign_with_pairs.slug, "--grader", "nobody"
        )
    with pytest.raises(CommandError, match="has no version 7"):
        call_command(
            "grader_agreement",
            "--campaign",
            campaign_with_pairs.slug,
            "--grader",
            grader_version.grader.name,
            "--grader-version",
            "7",
        )
