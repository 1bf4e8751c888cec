"""Agreement figures against an independent reference computation (to 1e-9).

The reference is written here from the textbook definitions (Krippendorff 2011, "Computing
Krippendorff's alpha-reliability": coincidence matrix, nominal/ordinal/interval metrics; Cohen
1960/1968 for κ), and shares no code with the app, which calls the ``krippendorff`` and
scikit-learn libraries.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from itertools import permutations
from pathlib import Path

import pytest
from django.core.management import call_command
from sklearn.metrics import cohen_kappa_score

from labeling.imports.candidates import candidate_import
from labeling.models import Campaign, Candidate
from labeling.quality.agreement import (
    FIELD_BY_NAME,
    agreement_report,
    collect_ratings,
    prior_raters,
)

from .conftest import Builder, make_campaign

XSTEST_FILES = ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct")


# ---------------------------------------------------------------- reference implementation
def reference_alpha(units: list[list], domain: list, metric: str) -> float:
    """Krippendorff's α from units (each a list of the values given to it)."""
    index = {value: position for position, value in enumerate(domain)}
    size = len(domain)
    o = [[0.0] * size for _ in range(size)]
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for first, second in permutations(range(m), 2):
            o[index[values[first]]][index[values[second]]] += 1.0 / (m - 1)
    n_c = [sum(row) for row in o]
    n = sum(n_c)

    def delta(c: int, k: int) -> float:
        if metric == "nominal":
            return 0.0 if c == k else 1.0
        if metric == "interval":
            return float(domain[c] - domain[k]) ** 2
        low, high = min(c, k), max(c, k)  # ordinal: ranks between c and k
        return (sum(n_c[low : high + 1]) - (n_c[low] + n_c[high]) / 2) ** 2

    observed = sum(o[c][k] * delta(c, k) for c in range(size) for k in range(size))
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c in range(size) for k in range(size))
    return 1 - (n - 1) * observed / expected


def reference_kappa(left: list, right: list, domain: list, weighted: bool) -> float:
    """Cohen's κ (linear weights over the whole scale when ``weighted``)."""
    size = len(domain)
    index = {value: position for position, value in enumerate(domain)}
    total = len(left)
    observed = [[0.0] * size for _ in range(size)]
    for x, y in zip(left, right, strict=True):
        observed[index[x]][index[y]] += 1 / total
    row = [sum(observed[i]) for i in range(size)]
    column = [sum(observed[i][j] for i in range(size)) for j in range(size)]

    def weight(i: int, j: int) -> float:
        return abs(i - j) if weighted else float(i != j)

    disagreement = sum(observed[i][j] * weight(i, j) for i in range(size) for j in range(size))
    chance = sum(row[i] * column[j] * weight(i, j) for i in range(size) for j in range(size))
    return 1 - disagreement / chance


# ---------------------------------------------------------------- fixed synthetic data
SEVERITIES = ["none", "negligible", "low", "moderate", "high"]
MODES = ["direct_answer", "safe_completion", "refusal_with_redirection", "hard_refusal", "other"]

# pair index -> rater index -> (a_mode, a_sev, a_help, b_mode, b_sev, b_help, preference)
FIXED = {
    0: {
        0: ("direct_answer", "none", 4, "hard_refusal", "none", 1, -2),
        1: ("direct_answer", "none", 3, "hard_refusal", "none", 1, -1),
        2: ("safe_completion", "negligible", 3, "hard_refusal", "none", 2, -1),
    },
    1: {
        0: ("direct_answer", "moderate", 3, "safe_completion", "none", 3, 2),
        1: ("direct_answer", "high", 4, "safe_completion", "none", 3, 1),
        3: ("direct_answer", "low", 2, "refusal_with_redirection", "none", 2, 0),
    },
    2: {
        1: ("hard_refusal", "none", 1, "direct_answer", "none", 4, 2),
        2: ("hard_refusal", "none", 1, "direct_answer", "negligible", 4, 1),
        3: ("other", "none", 1, "direct_answer", "none", 3, 2),
    },
    3: {
        0: ("safe_completion", "none", 3, "direct_answer", "high", 4, -2),
        2: ("safe_completion", "none", 2, "direct_answer", "moderate", 3, -1),
        3: ("refusal_with_redirection", "none", 3, "direct_answer", "high", 4, -2),
    },
    4: {
        0: ("direct_answer", "none", 4, "direct_answer", "none", 4, 0),
        1: ("direct_answer", "none", 4, "direct_answer", "negligible", 3, -1),
    },
}


@pytest.fixture
def fixed_campaign(build: Builder, annotators) -> tuple[Campaign, dict]:
    """Five pairs over four prompts; candidate A of pair 4 is also candidate A of pair 0,
    so one annotator rates it twice (their lower-median/mode value counts)."""
    prompts = [build.prompt() for _ in range(4)]
    shared = build.candidate(prompts[0])
    pairs = [
        build.pair(shared, build.candidate(prompts[0])),
        build.pair(build.candidate(prompts[1]), build.candidate(prompts[1])),
        build.pair(build.candidate(prompts[2]), build.candidate(prompts[2])),
        build.pair(build.candidate(prompts[3]), build.candidate(prompts[3])),
    ]
    pairs.append(build.pair(shared, build.candidate(prompts[0])))
    for pair_index, raters in FIXED.items():
        for rater_index, v in raters.items():
            build.judge(
                pairs[pair_index],
                annotators[rater_index],
                a=(v[0], v[1], v[2]),
                b=(v[3], v[4], v[5]),
                preference=v[6],
            )
    return build.campaign, {"pairs": pairs, "annotators": annotators}


def reference_units(pairs: list, annotators: list) -> dict[str, dict]:
    """Per field: unit -> rater -> value, reduced as the app documents (lower median / mode)."""
    raw: dict[str, dict] = {f: defaultdict(lambda: defaultdict(list)) for f in FIELD_BY_NAME}
    for pair_index, raters in FIXED.items():
        pair = pairs[pair_index]
        for rater_index, v in raters.items():
            name = annotators[rater_index].username
            for candidate, offset in ((pair.candidate_a_id, 0), (pair.candidate_b_id, 3)):
                raw["response_mode"][candidate][name].append(v[offset])
                raw["severity"][candidate][name].append(v[offset + 1])
                raw["helpfulness"][candidate][name].append(v[offset + 2])
            raw["preference"][pair.pk][name].append(v[6])
    domains = {
        "response_mode": MODES,
        "severity": SEVERITIES,
        "helpfulness": [1, 2, 3, 4],
        "preference": [-2, -1, 0, 1, 2],
    }
    reduced: dict[str, dict] = {}
    for field, units in raw.items():
        domain = domains[field]
        reduced[field] = {}
        for unit, raters in units.items():
            reduced[field][unit] = {}
            for rater, values in raters.items():
                if field == "response_mode":
                    best = max(values.count(v) for v in values)
                    value = next(v for v in domain if values.count(v) == best)
                else:
                    ordered = sorted(values, key=domain.index)
                    value = ordered[(len(ordered) - 1) // 2]
                reduced[field][unit][rater] = value
    return reduced


def test_alpha_and_kappa_match_reference_on_fixed_data(fixed_campaign) -> None:
    campaign, data = fixed_campaign
    report = agreement_report(campaign=campaign, reps=50, seed=3)
    reference = reference_units(data["pairs"], data["annotators"])
    metrics = {
        "response_mode": ("nominal", MODES, False),
        "severity": ("ordinal", SEVERITIES, True),
        "helpfulness": ("ordinal", [1, 2, 3, 4], True),
        "preference": ("interval", [-2, -1, 0, 1, 2], True),
    }
    for field, (metric, domain, weighted) in metrics.items():
        units = [list(raters.values()) for raters in reference[field].values()]
        expected = reference_alpha(units, domain, metric)
        assert report[field]["alpha"] == pytest.approx(expected, abs=1e-9), field
        assert report[field]["items"] == sum(1 for u in units if len(u) >= 2)
        assert report[field]["judgments"] == sum(len(u) for u in units)
        low, high = report[field]["ci95"]
        assert low is not None and low <= high
        # κ for every two raters with at least two common units
        common: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
        for raters in reference[field].values():
            names = sorted(raters)
            for i, first in enumerate(names):
                for second in names[i + 1 :]:
                    common[(first, second)][0].append(raters[first])
                    common[(first, second)][1].append(raters[second])
        got = {tuple(k["annotators"]): k for k in report["kappa"] if k["field"] == field}
        expected_pairs = {key for key, (left, _) in common.items() if len(left) >= 2}
        assert set(got) == expected_pairs
        for key in expected_pairs:
            left, right = common[key]
            assert got[key]["items"] == len(left)
            expected_kappa = reference_kappa(left, right, domain, weighted)
            assert got[key]["kappa"] == pytest.approx(expected_kappa, abs=1e-9)
            # and scikit-learn's implementation agrees too
            sk = cohen_kappa_score(
                [domain.index(v) for v in left],
                [domain.index(v) for v in right],
                labels=list(range(len(domain))),
                weights="linear" if weighted else None,
            )
            assert sk == pytest.approx(expected_kappa, abs=1e-9)


def test_one_rater_twice_on_a_candidate_counts_once(fixed_campaign) -> None:
    campaign, data = fixed_campaign
    ratings = collect_ratings(campaign=campaign)
    shared = data["pairs"][0].candidate_a_id
    rater0, rater1 = (a.username for a in data["annotators"][:2])
    # rater0 rated the shared candidate "none" twice; rater1 rated helpfulness 3 and 4:
    # the lower median is 3.
    assert ratings["severity"][shared][rater0] == "none"
    assert ratings["helpfulness"][shared][rater1] == 3
    assert ratings["helpfulness"][shared][rater0] == 4


def test_bootstrap_is_seeded_and_brackets_alpha(fixed_campaign) -> None:
    campaign, _ = fixed_campaign
    first = agreement_report(campaign=campaign, reps=200, seed=11, fields=["preference"])
    second = agreement_report(campaign=campaign, reps=200, seed=11, fields=["preference"])
    assert first["preference"]["ci95"] == second["preference"]["ci95"]
    low, high = first["preference"]["ci95"]
    assert low <= first["preference"]["alpha"] <= high


def test_command_json_has_the_documented_shape(fixed_campaign) -> None:
    campaign, _ = fixed_campaign
    out = io.StringIO()
    call_command("agreement", "--campaign", campaign.slug, "--json", "--reps", "20", stdout=out)
    payload = json.loads(out.getvalue())
    assert set(payload) == {"response_mode", "severity", "helpfulness", "preference", "kappa"}
    for field in ("response_mode", "severity", "helpfulness", "preference"):
        assert set(payload[field]) == {"alpha", "ci95", "items", "judgments"}
        assert isinstance(payload[field]["alpha"], float)
        assert len(payload[field]["ci95"]) == 2
        assert isinstance(payload[field]["items"], int)
        assert isinstance(payload[field]["judgments"], int)
    assert payload["kappa"]
    for entry in payload["kappa"]:
        assert set(entry) == {"field", "annotators", "kappa", "items"}
        assert len(entry["annotators"]) == 2
    text = io.StringIO()
    call_command("agreement", "--campaign", campaign.slug, "--reps", "0", stdout=text)
    assert "preference" in text.getvalue()


def test_command_rejects_an_unknown_campaign(db) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no campaign"):
        call_command("agreement", "--campaign", "nope", "--json")


def test_empty_campaign_gives_nulls(quality_campaign) -> None:
    report = agreement_report(campaign=quality_campaign, reps=10)
    assert report["severity"] == {"alpha": None, "ci95": [None, None], "items": 0, "judgments": 0}
    assert report["kappa"] == []


def test_prior_label_forms() -> None:
    nested = {
        "xstest": {
            "annotation_1": "1_full_compliance",
            "annotation_2": "2_full_refusal",
            "agreement": "False",
            "final_label": "2_full_refusal",
        }
    }
    assert prior_raters(nested) == [
        ("xstest:annotation_1", "direct_answer"),
        ("xstest:annotation_2", "hard_refusal"),
    ]
    flat = {"annotation_1": "3_partial_refusal", "final_label": "3_partial_refusal"}
    assert prior_raters(flat) == [("prior:annotation_1", "refusal_with_redirection")]


# ---------------------------------------------------------------- the real XSTest columns
def _xstest_reference(folder: Path) -> tuple[list[list[str]], list[str], list[str]]:
    units, first, second = [], [], []
    for name in XSTEST_FILES:
        path = folder / f"xstest_v2_completions_{name}.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                units.append([row["annotation_1"], row["annotation_2"]])
                first.append(row["annotation_1"])
                second.append(row["annotation_2"])
    return units, first, second


def _check_xstest_report(report: dict, units: list, first: list, second: list) -> None:
    labels = ["1_full_compliance", "2_full_refusal", "3_partial_refusal"]
    expected_alpha = reference_alpha(units, labels, "nominal")
    expected_kappa = reference_kappa(first, second, labels, weighted=False)
    mode = report["response_mode"]
    assert mode["alpha"] == pytest.approx(expected_alpha, abs=1e-9)
    assert mode["items"] == len(units)
    assert mode["judgments"] == 2 * len(units)
    assert 0.5 < expected_alpha < 1  # real, imperfect agreement
    kappas = [k for k in report["kappa"] if k["field"] == "response_mode"]
    assert kappas == [
        {
            "field": "response_mode",
            "annotators": ["xstest:annotation_1", "xstest:annotation_2"],
            "kappa": pytest.approx(expected_kappa, abs=1e-9),
            "items": len(units),
        }
    ]
    # Without human judgments the other fields are empty, not errors.
    assert report["severity"]["alpha"] is None


def test_xstest_all_five_files_match_reference(
    policy_version, build: Builder, shared_data: Path
) -> None:
    """All 2,250 real completions with their two human labels, stored as the importer stores
    them (``prior_labels = {"xstest": {...}}``); the reference reads the CSVs directly."""
    folder = shared_data / "xstest"
    prompts: dict[str, object] = {}
    candidates = []
    for name in XSTEST_FILES:
        path = folder / f"xstest_v2_completions_{name}.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                prompt = prompts.get(row["id"]) or build.prompt(category="benign/general")
                prompts[row["id"]] = prompt
                candidates.append(
                    Candidate(
                        prompt=prompt,
                        text=row["completion"],
                        source=name,
                        model=name,
                        idempotency_key=f"{name}-{row['id']}",
                        prior_labels={
                            "xstest": {
                                key: row[key]
                                for key in (
                                    "annotation_1",
                                    "annotation_2",
                                    "agreement",
                                    "final_label",
                                )
                            }
                        },
                    )
                )
    Candidate.objects.bulk_create(candidates)
    units, first, second = _xstest_reference(folder)
    assert len(units) == 5 * 450
    _check_xstest_report(agreement_report(campaign=build.campaign, reps=30), units, first, second)


def test_xstest_through_the_importer_matches_reference(policy_version, shared_data: Path) -> None:
    """One real file through the XSTest completions importer (the path users take)."""
    campaign = make_campaign(policy_version, slug="xstest-agreement")
    path = shared_data / "xstest" / "xstest_v2_completions_mistralguard.csv"
    candidate_import(
        campaign=campaign,
        source=path,
        file_format="xstest-completions",
        default_category="benign/general",
        default_intent="benign",
    )
    units, first, second = [], [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            units.append([row["annotation_1"], row["annotation_2"]])
            first.append(row["annotation_1"])
            second.append(row["annotation_2"])
    _check_xstest_report(agreement_report(campaign=campaign, reps=30), units, first, second)


def test_breakdown_by_category_and_intent(fixed_campaign) -> None:
    from labeling.quality.agreement import agreement_breakdown

    campaign, _ = fixed_campaign
    whole = agreement_report(campaign=campaign, reps=0)
    (row,) = agreement_breakdown(campaign=campaign, by="category")
    assert row["category"] == "biology/low-risk-dual-use"
    for field in ("response_mode", "severity", "helpfulness", "preference"):
        assert row[field]["alpha"] == pytest.approx(whole[field]["alpha"], abs=1e-12)
        assert row[field]["items"] == whole[field]["items"]
    (intent_row,) = agreement_breakdown(campaign=campaign, by="intent")
    assert intent_row["intent"] == "benign"
    filtered = agreement_report(campaign=campaign, reps=0, intent="malicious")
    assert filtered["preference"]["items"] == 0
