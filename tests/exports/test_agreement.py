"""The manifest's streamed Krippendorff's α equals the ``krippendorff`` library's to 1e-9."""

from __future__ import annotations

import random

import krippendorff
import numpy as np
import pytest

from exports.aggregation import Candidate, PairGroup, PairLabel, PromptGroup, SideLabel
from exports.agreement import AgreementAccumulator
from policy.rubric import SEVERITY_ORDINAL, Severity


def _random_prompts(seed: int) -> list[PromptGroup]:
    rng = random.Random(seed)
    prompts = []
    candidate_id = pair_id = 0
    for prompt_id in range(25):
        candidates = []
        for _ in range(3):
            candidate_id += 1
            candidates.append(Candidate(candidate_id, "x"))
        prompt = PromptGroup(prompt_id, "benign/general", "benign", str(prompt_id), [])
        for a, b in ((0, 1), (0, 2), (1, 2)):
            pair_id += 1
            pair = PairGroup(pair_id, candidates[a], candidates[b], None, None, None)
            for rater in rng.sample(range(5), rng.randint(1, 4)):
                pair.judgments.append(
                    PairLabel(
                        preference=rng.randint(-2, 2),
                        a=SideLabel("other", rng.choice(Severity.values), rng.randint(1, 4)),
                        b=SideLabel("other", rng.choice(Severity.values), rng.randint(1, 4)),
                        annotator_id=rater,
                    )
                )
            prompt.pairs.append(pair)
        prompts.append(prompt)
    return prompts


def _reference(prompts: list[PromptGroup]) -> dict[str, float]:
    raters = range(5)
    pairs = [pair for prompt in prompts for pair in prompt.pairs]
    preference = np.full((5, len(pairs)), np.nan)
    for column, pair in enumerate(pairs):
        for judgment in pair.judgments:
            preference[judgment.annotator_id, column] = judgment.preference
    per_candidate: dict[int, dict[int, list[tuple[int, int]]]] = {}
    for pair in pairs:
        for judgment in pair.judgments:
            for candidate, side in ((pair.a.id, judgment.a), (pair.b.id, judgment.b)):
                assert side is not None
                per_candidate.setdefault(candidate, {}).setdefault(
                    judgment.annotator_id, []
                ).append((SEVERITY_ORDINAL[side.severity], side.helpfulness))
    units = sorted(per_candidate)
    severity = np.full((5, len(units)), np.nan)
    helpfulness = np.full((5, len(units)), np.nan)
    for column, candidate in enumerate(units):
        for rater in raters:
            values = per_candidate[candidate].get(rater)
            if values:
                severity[rater, column] = sorted(v[0] for v in values)[(len(values) - 1) // 2]
                helpfulness[rater, column] = sorted(v[1] for v in values)[(len(values) - 1) // 2]
    return {
        "preference_alpha_interval": krippendorff.alpha(
            preference, level_of_measurement="interval", value_domain=[-2, -1, 0, 1, 2]
        ),
        "severity_alpha_ordinal": krippendorff.alpha(
            severity, level_of_measurement="ordinal", value_domain=[0, 1, 2, 3, 4]
        ),
        "helpfulness_alpha_ordinal": krippendorff.alpha(
            helpfulness, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4]
        ),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streamed_alpha_equals_the_library(seed: int) -> None:
    prompts = _random_prompts(seed)
    accumulator = AgreementAccumulator()
    for prompt in prompts:
        accumulator.add_prompt(prompt)
    reference = _reference(prompts)
    assert accumulator.preference.alpha() == pytest.approx(
        reference["preference_alpha_interval"], abs=1e-9
    )
    assert accumulator.severity.alpha() == pytest.approx(
        reference["severity_alpha_ordinal"], abs=1e-9
    )
    assert accumulator.helpfulness.alpha() == pytest.approx(
        reference["helpfulness_alpha_ordinal"], abs=1e-9
    )


@pytest.mark.django_db
def test_manifest_carries_agreement(hand: dict, run_export: object) -> None:
    export = run_export(format="reward")  # type: ignore[operator]
    agreement = export.manifest["agreement"]
    # X1, X2, X3 have two raters each: 3 pair units, 6 candidate units.
    assert agreement["units"] == {"candidates": 6, "pairs": 3}
    # Preferences (+1,+2), (−2,−1), (+1,−1): worked through the library for the reference.
    reference = krippendorff.alpha(
        np.array([[1, -2, 1], [2, -1, -1]], dtype=float),
        level_of_measurement="interval",
        value_domain=[-2, -1, 0, 1, 2],
    )
    assert agreement["preference_alpha_interval"] == pytest.approx(reference, abs=1e-6)
    assert "Agreement" in (export.manifest and open_readme(export))


def open_readme(export: object) -> str:
    from exports.services import export_folder

    return (export_folder(export) / "README.md").read_text()  # type: ignore[arg-type]
