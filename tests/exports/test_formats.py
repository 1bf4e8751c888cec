"""Each format against the hand-checked fixture (see conftest.py for the arithmetic)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from exports.services import export_folder

from .conftest import read_jsonl

pytestmark = pytest.mark.django_db

ALL_IN_TRAIN = {"train": 1.0, "validation": 0.0, "test": 0.0}


def rows_of(export: Any, category: str, split: str = "train", ext: str = "jsonl") -> Any:
    path = export_folder(export) / "data" / category / f"{split}.{ext}"
    return read_jsonl(path) if ext == "jsonl" else path.read_text()


def test_trl_preference_human(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="trl-preference", split_ratios=ALL_IN_TRAIN)
    assert export.status == "completed", export.error
    c = hand["candidates"]
    x = hand["pairs"]
    bio = rows_of(export, "biology/high-risk-dual-use")
    assert bio == [
        {
            "prompt": [{"role": "user", "content": "How do vaccines get made?"}],
            "chosen": [{"role": "assistant", "content": c[1].text}],
            "rejected": [{"role": "assistant", "content": c[0].text}],
            "margin": 1.5,
            "category": "biology/high-risk-dual-use",
            "intent": "dual_use",
            "pair_id": str(x[0].id),
        },
        {
            "prompt": [{"role": "user", "content": "Is bleach safe to drink?"}],
            "chosen": [{"role": "assistant", "content": c[2].text}],
            "rejected": [{"role": "assistant", "content": c[3].text}],
            "margin": 1.5,
            "category": "biology/high-risk-dual-use",
            "intent": "benign",
            "pair_id": str(x[1].id),
        },
    ]
    cyber = rows_of(export, "cybersecurity/malware-intrusion")
    # X4: human −1 → A (c7) chosen; X5 discarded; X6: the review's −2 overrides anna's +1.
    assert [(r["pair_id"], r["chosen"][0]["content"], r["margin"]) for r in cyber] == [
        (str(x[3].id), c[6].text, 1.0),
        (str(x[5].id), c[7].text, 2.0),
    ]
    counts = export.manifest["counts"]
    assert counts["pairs_considered"] == 6
    assert counts["rows_written"] == 4
    assert counts["left_out"]["tie"] == 1
    assert counts["left_out"]["discarded_by_review"] == 1
    assert not (export_folder(export) / "data" / "chemistry").exists()


def test_trl_preference_reward_and_both(hand: dict[str, Any], run_export: Any) -> None:
    c = hand["candidates"]
    reward = run_export(
        format="trl-preference", preference_source="reward", split_ratios=ALL_IN_TRAIN
    )
    bio = rows_of(reward, "biology/high-risk-dual-use")
    assert [(r["chosen"][0]["content"], r["margin"]) for r in bio] == [
        (c[1].text, 0.483333),
        (c[2].text, 0.833333),
    ]
    cyber = rows_of(reward, "cybersecurity/malware-intrusion")
    # X4 under reward: r_A = 0, r_B = 1/3 → B (c8); X6 review labels: r_A = 2/3, r_B = 0 → A.
    assert [(r["chosen"][0]["content"], r["margin"]) for r in cyber] == [
        (c[7].text, 0.333333),
        (c[7].text, 0.666667),
    ]
    both = run_export(format="trl-preference", preference_source="both", split_ratios=ALL_IN_TRAIN)
    assert both.manifest["counts"]["left_out"]["disagree"] == 1
    assert both.manifest["counts"]["rows_written"] == 3
    under = run_export(
        format="trl-preference",
        preference_source="reward",
        min_margin=0.5,
        split_ratios=ALL_IN_TRAIN,
    )
    # margins 0.483, 0.833, 0.333, 0.667 → two under 0.5
    assert under.manifest["counts"]["left_out"]["under_margin"] == 2
    assert under.manifest["counts"]["rows_written"] == 2


def test_min_judgments_and_agreement(hand: dict[str, Any], run_export: Any) -> None:
    two = run_export(format="trl-preference", min_judgments=2, split_ratios=ALL_IN_TRAIN)
    # X4 has one judgment; X5/X6 are decided by reviews (which stand on their own).
    assert two.manifest["counts"]["left_out"]["too_few_judgments"] == 1
    agree = run_export(format="trl-preference", min_agreement=0.75, split_ratios=ALL_IN_TRAIN)
    # X3: +1 / −1 → agreement 0.5
    assert agree.manifest["counts"]["left_out"]["low_agreement"] == 1
    raw_only = run_export(format="trl-preference", label_sources=["raw"], split_ratios=ALL_IN_TRAIN)
    cyber = rows_of(raw_only, "cybersecurity/malware-intrusion")
    # Without trusting reviews, X5 comes back (anna +1 → c9) and X6 follows anna (+1 → c9).
    assert len(cyber) == 3


def test_openai_dpo_has_exactly_its_keys(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="openai-dpo", split_ratios=ALL_IN_TRAIN)
    c = hand["candidates"]
    bio = rows_of(export, "biology/high-risk-dual-use")
    assert bio[0] == {
        "input": {"messages": [{"role": "user", "content": "How do vaccines get made?"}]},
        "preferred_output": [{"role": "assistant", "content": c[1].text}],
        "non_preferred_output": [{"role": "assistant", "content": c[0].text}],
    }
    for row in bio:
        assert set(row) == {"input", "preferred_output", "non_preferred_output"}
        assert set(row["input"]) == {"messages"}


def test_reward_rows(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="reward", split_ratios=ALL_IN_TRAIN)
    c = hand["candidates"]
    bio = {r["candidate_id"]: r for r in rows_of(export, "biology/high-risk-dual-use")}
    assert bio[str(c[0].id)] == {
        "candidate_id": str(c[0].id),
        "prompt": [{"role": "user", "content": "How do vaccines get made?"}],
        "completion": [{"role": "assistant", "content": c[0].text}],
        "category": "biology/high-risk-dual-use",
        "intent": "dual_use",
        "policy_version": hand["policy"].number,
        "response_mode": "direct_answer",
        "severity": 2.5,  # moderate (3) and low (2)
        "safety": 0.35,  # (0.2 + 0.5) / 2
        "helpfulness": 1.0,
        "reward": 0.35,
        "n_judgments": 2,
        "safety_sd": 0.15,
    }
    assert bio[str(c[1].id)]["helpfulness"] == 0.833333  # (2/3 + 1) / 2
    assert bio[str(c[1].id)]["reward"] == 0.833333
    assert bio[str(c[3].id)]["reward"] == 0.166667  # h = 0 and 1/3, s = 1
    cyber = {r["candidate_id"]: r for r in rows_of(export, "cybersecurity/malware-intrusion")}
    # c8: in X4 (anna: hard_refusal/none/2) and X6 (review: refusal_with_redirection/none/3);
    # X5 is discarded, so c9 counts only X6's review (hard_refusal/none/1).
    assert cyber[str(c[7].id)]["n_judgments"] == 2
    assert cyber[str(c[7].id)]["helpfulness"] == 0.5
    assert cyber[str(c[7].id)]["response_mode"] == "refusal_with_redirection"
    assert cyber[str(c[8].id)]["n_judgments"] == 1
    assert cyber[str(c[6].id)]["safety"] == 0.0


def test_trl_kto_labels(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="trl-kto", kto_threshold=0.5, split_ratios=ALL_IN_TRAIN)
    c = hand["candidates"]
    bio = rows_of(export, "biology/high-risk-dual-use")
    labels = {r["completion"][0]["content"]: r["label"] for r in bio}
    assert labels == {c[0].text: False, c[1].text: True, c[2].text: True, c[3].text: False}
    assert all(set(r) == {"prompt", "completion", "label"} for r in bio)


def test_openai_sft_best_safe_candidate(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="openai-sft", split_ratios=ALL_IN_TRAIN)
    c = hand["candidates"]
    bio = rows_of(export, "biology/high-risk-dual-use")
    # P1: c1 unsafe; c2 s = 1, h = 0.833 → c2. P2: c3 s = 1, h = 1 → c3.
    assert bio == [
        {
            "messages": [
                {"role": "user", "content": "How do vaccines get made?"},
                {"role": "assistant", "content": c[1].text},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Is bleach safe to drink?"},
                {"role": "assistant", "content": c[2].text},
            ]
        },
    ]
    # P3: h = 2/3 ≥ 0.66 and s = 1 → kept; raising the bar leaves it out.
    strict = run_export(format="openai-sft", sft_threshold=0.9, split_ratios=ALL_IN_TRAIN)
    assert strict.manifest["counts"]["no_qualifying_candidate"] >= 1


def test_judgments_jsonl_and_pseudonyms(
    hand: dict[str, Any], run_export: Any, personas: dict[str, Any]
) -> None:
    export = run_export(format="judgments", split_ratios=ALL_IN_TRAIN)
    bio = rows_of(export, "biology/high-risk-dual-use")
    assert len(bio) == 4
    first = bio[0]
    assert first["a_safety"] == 0.2 and first["b_helpfulness_score"] == 0.666667
    assert first["a_reward"] == 0.2 and first["preference"] == 1
    assert first["annotator"].startswith("annotator-")
    assert (
        "anna"
        not in Path(export_folder(export))
        .joinpath("data/biology/high-risk-dual-use/train.jsonl")
        .read_text()
    )
    again = run_export(format="judgments", split_ratios=ALL_IN_TRAIN)
    assert rows_of(again, "biology/high-risk-dual-use")[0]["annotator"] == first["annotator"]
    named = run_export(format="judgments", pseudonymise_annotators=False, split_ratios=ALL_IN_TRAIN)
    assert rows_of(named, "biology/high-risk-dual-use")[0]["annotator"] == "anna"


def test_judgments_csv_neutralises_formulas(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="judgments-csv", split_ratios=ALL_IN_TRAIN)
    text = rows_of(export, "chemistry/dual-use", ext="csv")
    records = list(csv.DictReader(io.StringIO(text)))
    assert len(records) == 2
    first = records[0]
    assert first["completion_a"] == "'+SUM(1,2)"
    assert first["completion_b"] == "'@evil"
    assert first["rationale"] == "'-1 dubious"
    assert first["prompt"].startswith("[")  # JSON of the messages, not a formula
    assert records[1]["preference"] == "-1"  # numbers stay numbers
    for record in records:
        for value in record.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
