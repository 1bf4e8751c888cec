"""The derived scores and the validation of every field (shown order, canonical storage)."""

from __future__ import annotations

import pytest

from labeling.annotation.validation import JudgmentInvalid, judgment_clean
from policy import rubric as scoring
from policy.rubric import DEFAULT_SEVERITY_TO_SAFETY

from .conftest import payload

MAPPING = DEFAULT_SEVERITY_TO_SAFETY


def test_scores_follow_the_rubric():
    assert scoring.safety("none") == 1.0
    assert scoring.safety("moderate", {"moderate": 0.3}) == 0.3
    assert scoring.helpfulness_score(1) == 0.0
    assert scoring.helpfulness_score(4) == 1.0
    assert scoring.reward(severity="low", helpfulness=3) == pytest.approx(0.5 * 2 / 3)
    assert scoring.reward_margin(
        a_severity="high", a_helpfulness=4, b_severity="none", b_helpfulness=2
    ) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="helpfulness"):
        scoring.helpfulness_score(5)
    with pytest.raises(ValueError, match="severity"):
        scoring.safety("extreme")


@pytest.mark.parametrize(
    ("preference", "a", "b", "required"),
    [
        (2, ("none", 2), ("none", 4), True),  # strong preference always needs a reason
        (-2, ("none", 4), ("none", 2), True),
        (1, ("none", 2), ("none", 4), False),  # agrees: B has the higher reward
        (1, ("none", 4), ("none", 2), True),  # disagrees
        (-1, ("high", 4), ("none", 3), True),  # A unsafe (r=0) yet preferred
        (0, ("none", 4), ("none", 1), False),  # "equal" is never a disagreement
        (1, ("none", 3), ("none", 3), False),  # equal rewards: no disagreement
    ],
)
def test_rationale_required(preference, a, b, required):
    assert (
        scoring.rationale_required(
            preference=preference,
            a_severity=a[0],
            a_helpfulness=a[1],
            b_severity=b[0],
            b_helpfulness=b[1],
        )
        is required
    )


def test_a_valid_judgment_is_stored_in_canonical_order():
    body = payload(
        left=("hard_refusal", "none", 1), right=("direct_answer", "low", 4), preference=-1,
        rationale="the refusal is safer",
    )  # fmt: skip
    clean = judgment_clean(body, severity_to_safety=MAPPING)
    shown_left_is_a = clean.canonical(left_is_a=True)
    assert shown_left_is_a["a_response_mode"] == "hard_refusal"
    assert shown_left_is_a["preference"] == -1
    swapped = clean.canonical(left_is_a=False)
    # The left side was B: its ratings go to b_*, and "left better" becomes "B better" (+1).
    assert swapped["b_response_mode"] == "hard_refusal"
    assert swapped["a_response_mode"] == "direct_answer"
    assert swapped["a_helpfulness"] == 4
    assert swapped["preference"] == 1
    assert swapped["left_is_a"] is False


BAD_FIELDS = [
    (lambda b: b["left"].update(response_mode="yes"), ("left", "response_mode")),
    (lambda b: b["left"].pop("response_mode"), ("left", "response_mode")),
    (lambda b: b["right"].update(severity="extreme"), ("right", "severity")),
    (lambda b: b["right"].update(severity=3), ("right", "severity")),
    (lambda b: b["left"].update(helpfulness=0), ("left", "helpfulness")),
    (lambda b: b["left"].update(helpfulness=5), ("left", "helpfulness")),
    (lambda b: b["left"].update(helpfulness="lots"), ("left", "helpfulness")),
    (lambda b: b["left"].update(helpfulness=True), ("left", "helpfulness")),
    (lambda b: b["left"].update(helpfulness=2.5), ("left", "helpfulness")),
    (
        lambda b: b["left"].update(response_mode="hard_refusal", helpfulness=4),
        ("left", "helpfulness"),
    ),
    (lambda b: b.update(left="great"), ("left", "non_field_errors")),
    (lambda b: b.update(preference=3), ("preference",)),
    (lambda b: b.update(preference=None), ("preference",)),
    (lambda b: b.update(preference="left"), ("preference",)),
    (lambda b: b.update(preference=2), ("rationale",)),
    (lambda b: b.update(rationale=123), ("rationale",)),
    (lambda b: b.update(rationale="x" * 5001), ("rationale",)),
    (lambda b: b.update(flags=["spam"]), ("flags",)),
    (lambda b: b.update(flags="other,spam"), ("flags",)),
    (lambda b: b.update(flags={"a": 1}), ("flags",)),
    (lambda b: b.update(flags=["other"]), ("flag_note",)),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "path"), BAD_FIELDS)
def test_each_bad_field_is_named_with_a_message(mutate, path):
    body = payload()
    mutate(body)
    with pytest.raises(JudgmentInvalid) as caught:
        judgment_clean(body, severity_to_safety=MAPPING)
    node = caught.value.errors
    for key in path:
        assert key in node, caught.value.errors
        node = node[key]
    assert node and all(isinstance(message, str) and message for message in node)


def test_several_bad_fields_are_all_reported():
    body = payload(preference=9)
    body["left"]["severity"] = "bad"
    body["right"]["helpfulness"] = 7
    with pytest.raises(JudgmentInvalid) as caught:
        judgment_clean(body, severity_to_safety=MAPPING)
    assert set(caught.value.flat()) == {"left_severity", "right_helpfulness", "preference"}


def test_not_an_object():
    with pytest.raises(JudgmentInvalid) as caught:
        judgment_clean(["left"], severity_to_safety=MAPPING)
    assert "non_field_errors" in caught.value.errors
