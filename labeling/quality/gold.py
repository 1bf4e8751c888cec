"""Gold pairs: a researcher's expected answer, and how each judgment of a gold pair scores.

A gold answer is stored on ``Pair.gold_answer`` as::

    {"a": {"severity": "none", "helpfulness": 3},
     "b": {"severity": "low", "helpfulness": 2},
     "preference": -1,               # direction: -1 A better, 0 about equal, +1 B better
     "severity_tolerance": 0,        # allowed distance on the 0-4 severity scale
     "helpfulness_tolerance": 1}     # allowed distance on the 1-4 helpfulness scale

A judgment *passes* when, on both sides, its severity and helpfulness are within the
tolerances, and the sign of its preference equals the expected direction. An annotator's gold
accuracy is the share of their gold judgments that pass.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from labeling.models import Campaign, Judgment, Pair
from policy.rubric import (
    CANONICAL_SIDES,
    HELPFULNESS_FIELD,
    HELPFULNESS_MAX,
    HELPFULNESS_MIN,
    PREFERENCE_DIRECTION_LABELS,
    PREFERENCE_FIELD,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
    SEVERITY_ORDINAL,
    side_field,
)

# An annotator is flagged only once they have answered this many gold pairs: one miss out of
# one is noise, not evidence.
GOLD_MIN_JUDGMENTS = 3
# The per-side fields a gold answer sets (the response mode is not checked).
GOLD_SIDE_FIELDS = (SEVERITY_FIELD, HELPFULNESS_FIELD)
# The widest distance a tolerance may allow on each ordinal scale.
SEVERITY_TOLERANCE_MAX = len(SEVERITY_LEVELS) - 1
HELPFULNESS_TOLERANCE_MAX = HELPFULNESS_MAX - HELPFULNESS_MIN
_DIRECTIONS = [f"{value} ({label})" for value, label in PREFERENCE_DIRECTION_LABELS.items()]
_DIRECTIONS_TEXT = f"{', '.join(_DIRECTIONS[:-1])} or {_DIRECTIONS[-1]}"


def gold_answer_clean(raw: Any) -> dict[str, Any]:
    """Validate a gold answer and return it in canonical form; raise ValidationError."""
    if not isinstance(raw, dict):
        raise ValidationError("The gold answer must be an object.")
    errors: dict[str, str] = {}
    answer: dict[str, Any] = {}
    for side in CANONICAL_SIDES:
        values = raw.get(side)
        if not isinstance(values, dict):
            errors[side] = f"side {side!r} needs severity and helpfulness"
            continue
        severity = values.get("severity")
        if severity not in SEVERITY_ORDINAL:
            errors[f"{side}.severity"] = f"must be one of {', '.join(SEVERITY_ORDINAL)}"
        helpfulness = as_int(values.get("helpfulness"))
        if helpfulness is None or not HELPFULNESS_MIN <= helpfulness <= HELPFULNESS_MAX:
            errors[f"{side}.helpfulness"] = (
                f"must be an integer from {HELPFULNESS_MIN} to {HELPFULNESS_MAX}"
            )
        answer[side] = {"severity": severity, "helpfulness": helpfulness}
    direction = as_int(raw.get("preference"))
    if direction not in PREFERENCE_DIRECTION_LABELS:
        errors["preference"] = f"must be {_DIRECTIONS_TEXT}"
    answer["preference"] = direction
    for key, upper in (
        ("severity_tolerance", SEVERITY_TOLERANCE_MAX),
        ("helpfulness_tolerance", HELPFULNESS_TOLERANCE_MAX),
    ):
        tolerance = as_int(raw.get(key, 0))
        if tolerance is None or not 0 <= tolerance <= upper:
            errors[key] = f"must be an integer from 0 to {upper}"
        answer[key] = tolerance
    if errors:
        raise ValidationError(errors)
    return answer


def as_int(value: Any) -> int | None:
    """An integer from an int or a string of digits; None for anything else (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    return None


@transaction.atomic
def pair_gold_set(*, pair: Pair, answer: Any) -> Pair:
    """Mark ``pair`` as gold with the expected ``answer`` (validated)."""
    clean = gold_answer_clean(answer)
    Pair.objects.filter(pk=pair.pk).update(is_gold=True, gold_answer=clean)
    pair.is_gold = True
    pair.gold_answer = clean
    return pair


@transaction.atomic
def pair_gold_clear(*, pair: Pair) -> Pair:
    """Stop using ``pair`` as gold; its judgments stay but no longer score anyone."""
    Pair.objects.filter(pk=pair.pk).update(is_gold=False, gold_answer=None)
    pair.is_gold = False
    pair.gold_answer = None
    return pair


@dataclass(frozen=True)
class GoldOutcome:
    """How one judgment of a gold pair compares with the expected answer."""

    passed: bool
    failures: tuple[str, ...] = field(default_factory=tuple)


def _sign(value: int | float) -> int:
    return (value > 0) - (value < 0)


def gold_score(*, judgment: dict[str, Any], answer: dict[str, Any]) -> GoldOutcome:
    """Score one judgment's values (keys ``a_severity``, ``a_helpfulness``, ``b_…``,
    ``preference``) against a clean gold answer."""
    failures: list[str] = []
    severity_tolerance = int(answer.get("severity_tolerance") or 0)
    helpfulness_tolerance = int(answer.get("helpfulness_tolerance") or 0)
    for side in CANONICAL_SIDES:
        expected = answer[side]
        given_severity = SEVERITY_ORDINAL[judgment[f"{side}_severity"]]
        if abs(given_severity - SEVERITY_ORDINAL[expected["severity"]]) > severity_tolerance:
            failures.append(f"{side}.severity")
        if abs(int(judgment[f"{side}_helpfulness"]) - int(expected["helpfulness"])) > (
            helpfulness_tolerance
        ):
            failures.append(f"{side}.helpfulness")
    if _sign(judgment["preference"]) != int(answer["preference"]):
        failures.append("preference")
    return GoldOutcome(passed=not failures, failures=tuple(failures))


GOLD_FIELDS = (
    "id",
    "pair_id",
    "annotator_id",
    *(side_field(side, name) for side in CANONICAL_SIDES for name in GOLD_SIDE_FIELDS),
    PREFERENCE_FIELD,
    "pair__gold_answer",
)


def gold_judgments_scored(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Every judgment of a gold pair in ``campaign`` with its outcome (narrow rows)."""
    rows = Judgment.objects.filter(
        pair__prompt__campaign=campaign, pair__is_gold=True, pair__gold_answer__isnull=False
    ).values(*GOLD_FIELDS)
    scored = []
    for row in rows:
        outcome = gold_score(judgment=row, answer=row["pair__gold_answer"])
        scored.append(
            {
                "judgment_id": row["id"],
                "pair_id": row["pair_id"],
                "annotator_id": row["annotator_id"],
                "passed": outcome.passed,
                "failures": list(outcome.failures),
            }
        )
    return scored


def gold_accuracy_by_annotator(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Per annotator: gold judgments, passed, accuracy, and whether they fall under the
    campaign's threshold (flagged to reviewers once they have GOLD_MIN_JUDGMENTS)."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in gold_judgments_scored(campaign=campaign):
        totals[row["annotator_id"]][0] += 1
        totals[row["annotator_id"]][1] += int(row["passed"])
    names = dict(get_user_model().objects.filter(pk__in=totals).values_list("pk", "username"))
    threshold = campaign.gold_accuracy_threshold
    result = []
    for annotator_id, (judged, passed) in sorted(totals.items(), key=lambda kv: names[kv[0]]):
        accuracy = passed / judged
        result.append(
            {
                "annotator_id": annotator_id,
                "annotator": names[annotator_id],
                "gold_judgments": judged,
                "passed": passed,
                "accuracy": accuracy,
                "flagged": judged >= GOLD_MIN_JUDGMENTS and accuracy < threshold,
            }
        )
    return result


def failed_gold_pair_ids(*, campaign: Campaign) -> dict[int, list[int]]:
    """Gold pairs with at least one failing judgment: pair id -> failing annotator ids."""
    failed: dict[int, list[int]] = defaultdict(list)
    for row in gold_judgments_scored(campaign=campaign):
        if not row["passed"]:
            failed[row["pair_id"]].append(row["annotator_id"])
    return dict(failed)
